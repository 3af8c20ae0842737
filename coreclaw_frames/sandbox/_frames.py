"""The run frame of a sandbox account without a server: what ``fetch_runs`` would return.

Useful to try the plots, the summary and the report offline, and in examples and tests. The
records go through the same wire serialisation as the server's answers and the same client
dialect as fetched ones, so the frame equals a fetched frame but for ``fetched_at``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coreclaw_frames.sandbox._account import Account
from coreclaw_frames.sandbox._v2 import v2_run_record

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_frame"]


def run_frame(account: Account, *, api_version: str = "v2") -> pd.DataFrame:
    """Every run of ``account`` as a typed run frame, newest first, as ``fetch_runs`` gives it.

    Parameters
    ----------
    account : Account
        The account, from :func:`~coreclaw_frames.sandbox.build_account`.
    api_version : {"v2", "v1"}
        The API version whose answers the frame is read from (the two differ as the API does:
        v2 names some workers ``owner~name`` and may leave ``err_msg`` out).

    Returns
    -------
    pandas.DataFrame
        The run frame, every ``fetched_at`` set to now.

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account
    >>> df = run_frame(build_account(seed=0, runs=300))
    >>> len(df), df["fetch_error"].isna().all()
    (300, np.True_)
    """
    from coreclaw_frames._records import records_to_frame
    from coreclaw_frames.api._client import DIALECTS

    dialect = DIALECTS[api_version]
    records = account.runs
    wire = [v2_run_record(account, r) for r in records] if api_version == "v2" else records
    return records_to_frame([dialect.canonical_run(record) for record in wire])
