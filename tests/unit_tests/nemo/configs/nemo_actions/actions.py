from nemoguardrails.actions import action


@action(name="check_blocked_terms")
async def check_blocked_terms(context: dict | None = None) -> bool:
    """NeMo style: the verdict is True = allowed here (see the migration guide)."""
    return "proprietary" not in (context or {}).get("user_message", "")


@action(name="output has no secret", output_mapping=lambda found: found)
def secret_found(text: str) -> bool:
    # NeMo's output_mapping returns True when the text must be blocked.
    return "SECRET" in text
