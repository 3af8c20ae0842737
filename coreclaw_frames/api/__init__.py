"""Everything that knows the wire: nothing above this package sees a path, a method, an error
code or a wire field name.

* :mod:`~coreclaw_frames.api.client`: the :class:`Client` and its four operations.
* :mod:`~coreclaw_frames.api.transport`: the HTTP session, retries and rate control.
* :mod:`~coreclaw_frames.api.dialect`: the interface a wire version implements, the canonical
  run record, and envelope unwrapping; :mod:`~coreclaw_frames.api.v1` and
  :mod:`~coreclaw_frames.api.v2` implement it.
* :mod:`~coreclaw_frames.api.paging`: one paginator for Run History and result pages.
* :mod:`~coreclaw_frames.api.retry`: when to retry, how long to wait, how fast to send.
"""

from coreclaw_frames.api.client import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    Client,
    status_label,
)
from coreclaw_frames.api.dialect import STATUS_LABELS, is_final

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "STATUS_LABELS",
    "Client",
    "is_final",
    "status_label",
]
