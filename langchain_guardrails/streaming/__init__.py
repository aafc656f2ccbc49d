"""Floor 3, the stream: a model's chunks checked per window while they flow, released in order.

Where a chunk goes: ``chunks`` reads its channels (answer text, reasoning) and tallies usage;
``tool_calls`` assembles tool-call deltas into whole calls (the one assembler every path uses) and
holds each until ``rails.tool_output`` passed it; ``windows`` (``WindowStream``, planned by
``window_plan``, one ``window_channel`` per channel) cuts the answer and the reasoning into
windows of ``chunk_size`` new units with ``context_size`` units of context, schedules the output
rails on each and releases chunks in stream order (hold-back or stream-first); ``speculative``
lets the model start while the input rails run; ``reasoning`` finds and strips the reasoning
channel; ``window_events`` reports windows to listeners. ``handler`` is NeMo's
``StreamingHandler``.

Imports: ``config``, ``engine``, ``observability``, ``errors``.
"""

from langchain_guardrails.streaming.handler import StreamingHandler

__all__ = ["StreamingHandler"]
