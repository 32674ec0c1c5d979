"""A failed invocation tells Lambda whether a retry can help: its errorType is
`Permanent.<kind>` or `Retryable.<kind>` (what on-failure destinations, DLQ records and the
console show), never the Rust type name of a boxed error."""

from __future__ import annotations

import pytest

BAD_COMMANDS = {
    "alerts": {"command": "no-such-command"},
    "enrich": {"command": "no-such-command"},
    "partitions": {"command": "no-such-command"},
    "checkpoints": {"command": "no-such-command"},
    "scaler": {"command": "no-such-command"},
}


@pytest.mark.parametrize("binary", sorted(BAD_COMMANDS))
def test_a_bad_command_fails_as_permanent(stack, binary):
    ok, out = stack.invoke(binary, BAD_COMMANDS[binary])
    assert not ok, out
    assert "Permanent.Bad" in out, out
    assert "alloc::boxed::Box" not in out, out
