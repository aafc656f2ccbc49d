"""Floor 2, the engine: one stage's rails run on one text.

``rail_engine`` (``RailEngine``) resolves the config's flow names to actions (built-in rails from
``langchain_guardrails.rails``, ``@action`` functions, refused NeMo flows from
``nemo_library``) and runs one stage's rails on one text (concurrently, first block wins), in
the canonical form of the channel (``canonical``: what the consumer decodes; ``json_depth``
bounds decoded JSON). ``cascade`` lets a cheap scored rail decide alone outside its band and
escalate to an expensive rail inside it. ``results`` turns a decision into what a caller gets:
violation metadata, the refusal, the aggregated message.

To add a rail: write it in ``langchain_guardrails.rails`` and register it in
``rails.BUILTIN_RAILS`` (or ship it as an ``@action`` in a config's ``actions.py``).

Imports: ``config``, ``observability``, ``rails``, ``errors``.
"""
