"""Everything that depends on the httpx family: clients, transports, pools, signing, reading.

The rest of the SDK is written once, against `Exchange` (post a signed body, read a
bounded answer), `opay_error_for` (what a transport failure means) and `stopping` (a
process being stopped, hidden under another error). httpx2 is the
SDK's own family; a caller's legacy ``httpx.AsyncClient`` is served by the same code
with legacy httpx's classes (see ``_family``).
"""

from ._auth import OPaySignatureAuth, sign
from ._base_url import check_base_url
from ._connections import CONNECT_TIMEOUT, Backend
from ._exchange import Answer, Exchange, make_exchange
from ._failures import opay_error_for, stopping
from ._pool import ShardedTransport
from ._reading import ACCEPT_ENCODING, MAX_ANSWER_BYTES

__all__ = [
    "ACCEPT_ENCODING",
    "CONNECT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "Answer",
    "Backend",
    "Exchange",
    "OPaySignatureAuth",
    "ShardedTransport",
    "check_base_url",
    "make_exchange",
    "opay_error_for",
    "sign",
    "stopping",
]
