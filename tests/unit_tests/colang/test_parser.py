"""The Colang 1.0 rail subset parses to the expected nodes; everything else is refused with
the file, the line and the construct."""

from __future__ import annotations

import pytest

from langchain_guardrails import ConfigError
from langchain_guardrails.colang import (
    Assign,
    Bot,
    BotDefinition,
    CreateEvent,
    Do,
    Execute,
    If,
    Stop,
    parse_colang,
)
from langchain_guardrails.colang.expressions import parse_expression
from langchain_guardrails.colang.parser import DIALOG

SOURCE = '''
# A comment line
define bot inform cannot about proprietary technology
  "I cannot talk about proprietary technology."
  "Second message."

define subflow check blocked terms
  """A docstring
  over two lines."""
  $is_blocked = execute check_blocked_terms  # a trailing comment
  $score = execute score_text(text=$bot_message, limit=3)
  execute log_it
  $label = "a # not a comment"
  if $is_blocked and $config.rails.input.parallel in [None, 'x']
    bot inform cannot about proprietary technology
    stop
  elif not $score >= 0.5 or $label == "x"
    bot $label
    stop
  else
    create event InputRailException(message="Blocked: " + $label)

define flow second
  stop
'''


def expr(text: str) -> object:
    return parse_expression(text, "x")


def test_every_construct_parses_to_its_node() -> None:
    program = parse_colang(SOURCE, "rails.co")
    assert program.bots == {
        "inform cannot about proprietary technology": BotDefinition(
            "inform cannot about proprietary technology",
            ("I cannot talk about proprietary technology.", "Second message."),
            "rails.co:3",
        )
    }
    flow = program.flows["check blocked terms"]
    assert (flow.kind, flow.where) == ("subflow", "rails.co:7")
    assert flow.body == (
        Execute("check_blocked_terms", (), "is_blocked", "rails.co:10"),
        Execute(
            "score_text",
            (("text", expr("$bot_message")), ("limit", expr("3"))),
            "score",
            "rails.co:11",
        ),
        Execute("log_it", (), None, "rails.co:12"),
        Assign("label", expr('"a # not a comment"'), "rails.co:13"),
        If(
            (
                (
                    expr("$is_blocked and $config.rails.input.parallel in [None, 'x']"),
                    (
                        Bot("inform cannot about proprietary technology", None, "rails.co:15"),
                        Stop("rails.co:16"),
                    ),
                ),
                (
                    expr('not $score >= 0.5 or $label == "x"'),
                    (Bot(None, "label", "rails.co:18"), Stop("rails.co:19")),
                ),
            ),
            (
                CreateEvent(
                    "InputRailException",
                    (("message", expr('"Blocked: " + $label')),),
                    "rails.co:21",
                ),
            ),
            "rails.co:14",
        ),
    )
    assert program.flows["second"].kind == "flow"
    assert program.flows["second"].body == (Stop("rails.co:24"),)


def test_do_mask_blocked_user_input_parses_and_no_other_do() -> None:
    # NeMo 0.24's Colang 1.0 `self check input` calls NeMo's core subflow before refusing.
    program = parse_colang(
        "define flow f\n  if $x\n    do mask blocked user input\n    stop\n", "r.co"
    )
    _condition, branch = program.flows["f"].body[0].branches[0]  # type: ignore[union-attr]
    assert branch == (Do("mask blocked user input", "r.co:3"), Stop("r.co:4"))
    with pytest.raises(ConfigError) as info:
        parse_colang("define flow f\n  do mask blocked bot output\n", "r.co")
    assert str(info.value) == (
        "r.co:2: 'do mask blocked bot output': 'do' is not part of the Colang 1.0 rail subset; "
        f"{DIALOG}"
    )


def test_a_bot_defined_twice_keeps_both_messages_in_order() -> None:
    program = parse_colang('define bot b\n  "one"\n\ndefine bot b\n  "two"\n', "b.co")
    assert program.bots["b"] == BotDefinition("b", ("one", "two"), "b.co:1")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            'define user express greeting\n  "hello"\n',
            "r.co:1: 'define user express greeting': user intents (define user) are dialog "
            f"rails; {DIALOG}",
        ),
        (
            "define flow greeting\n  user express greeting\n  bot express greeting\n",
            f"r.co:2: 'user': a flow with 'user' lines is a dialog flow; {DIALOG}",
        ),
        (
            "define flow f\n  when $x\n    stop\n",
            f"r.co:2: 'when': a flow with 'when' lines is a dialog flow; {DIALOG}",
        ),
        (
            "define flow f\n  if $x\n    stop\n  else when $y\n    stop\n",
            f"r.co:4: 'else when': a flow with 'else when' lines is a dialog flow; {DIALOG}",
        ),
        (
            "flow self check input\n  $allowed = await SelfCheckInputAction\n",
            f"r.co:1: 'flow self check input': Colang 2.x is not supported; {DIALOG}",
        ),
        ("import core\n", f"r.co:1: 'import core': Colang 2.x is not supported; {DIALOG}"),
        (
            "define flow f\n  await bot say 'hi'\n",
            f"r.co:2: 'await': Colang 2.x is not supported; {DIALOG}",
        ),
        (
            "define flow f\n  match UtteranceUserActionFinished()\n",
            f"r.co:2: 'match': Colang 2.x is not supported; {DIALOG}",
        ),
        (
            "define flow f\n  activate greeting\n",
            f"r.co:2: 'activate': Colang 2.x is not supported; {DIALOG}",
        ),
        (
            "define flow f\n  do something\n",
            f"r.co:2: 'do something': 'do' is not part of the Colang 1.0 rail subset; {DIALOG}",
        ),
        (
            "define flow f\n  create event StartUtteranceBotAction(script='hi')\n",
            "r.co:2: 'create event StartUtteranceBotAction(script='hi')': only rail exceptions "
            f"(create event XxxRailException(message=...)) are supported; {DIALOG}",
        ),
        ("define bot b\n  hello\n", "r.co:2: 'hello': a bot message must be a quoted string"),
        ("define bot b\n", "r.co:1: 'define bot b' has no message"),
        ("define flow f\n  if $x\n  stop\n", "r.co:2: 'if' needs an indented block"),
        ("define flow f\n  stop\n    stop\n", "r.co:3: 'stop': unexpected indentation"),
        ("  stop\n", "r.co:1: 'stop': unexpected indentation"),
        (
            "define flow f\n  if $x\n    stop\n  else $y\n    stop\n",
            "r.co:4: 'else $y': 'else' takes no condition",
        ),
        (
            "define flow f\n  $x = execute a(1)\n",
            "r.co:2: execute a: arguments must be name=value pairs (got '(1)')",
        ),
        ("define flow f\n  $x = $y +\n", "r.co:2: cannot read the expression '$y +'"),
        (
            "define flow f\n  $x = open('/etc/passwd')\n",
            "r.co:2: \"open('/etc/passwd')\": unknown name 'open' (variables start with $)",
        ),
        (
            "define flow f\n  $x = $y.__class__\n",
            "r.co:2: '$y.__class__': Attribute is not part of the Colang expressions supported "
            "here (literals, $variables, .attr, [key], not, and, or, comparisons, in, "
            "+ - * / %, len())",
        ),
        (
            "define flow f\n  $x = [i for i in $y]\n",
            "r.co:2: '[i for i in $y]': ListComp is not part of the Colang expressions "
            "supported here (literals, $variables, .attr, [key], not, and, or, comparisons, "
            "in, + - * / %, len())",
        ),
        ('define flow f\n  """open\n', "r.co: a docstring is not closed"),
        (
            "define flow f\n  stop\ndefine flow f\n  stop\n",
            "r.co:3: flow 'f' is already defined at r.co:1",
        ),
        (
            "define flow\n  stop\n",
            f"r.co:1: 'define flow' is not part of the Colang 1.0 rail subset; {DIALOG}",
        ),
    ],
)
def test_unsupported_constructs_name_the_file_line_and_construct(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_colang(text, "r.co")
    assert str(info.value) == error


def test_names_with_hyphens_and_escaped_quotes_before_a_comment() -> None:
    text = 'define bot refuse about self-harm\n  "He said \\"# no\\" here" # comment\n'
    program = parse_colang(text, "h.co")
    assert program.bots["refuse about self-harm"].messages == ('He said "# no" here',)
