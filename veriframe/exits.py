"""The creator's commands' failures: one line each, and one exit status per kind, so that a
script can tell a platform that is down from a file that is wrong from a job that failed.

| status | failure |
| --- | --- |
| 1 | anything else: the API refused the request (not your job, a bad score, …) |
| 2 | a bad argument or file (not a `.blend`, a scene that reads files outside its folder) |
| 3 | the platform's API cannot be reached, or failed |
| 4 | IPFS: the platform's node or your own is unreachable, or the file is over the cap |
| 5 | the chain: the node cannot be reached, or a transaction was refused |
| 6 | not enough reward tokens: the account's balance (or allowance) is below the reward |
| 7 | the job failed: no worker can render it, it expired, or it has no verified frame |
| 130 | interrupted (Ctrl-C) |
"""

from __future__ import annotations

INTERRUPTED = 130
STATUSES = """exit status: 0 done, 1 refused by the platform, 2 bad argument or file, 3 the
platform's API, 4 IPFS, 5 the chain, 6 not enough reward tokens, 7 the job failed,
130 interrupted"""
"""What `--help` says of the statuses."""


class CreatorError(RuntimeError):
    """A creator command cannot go on; the message says why and what to change."""

    exit_code = 1


class BadInput(CreatorError):
    exit_code = 2


class ApiUnavailable(CreatorError):
    exit_code = 3


class IpfsFailed(CreatorError):
    exit_code = 4


class ChainFailed(CreatorError):
    exit_code = 5


class NotEnoughTokens(CreatorError):
    exit_code = 6


class JobFailed(CreatorError):
    exit_code = 7
