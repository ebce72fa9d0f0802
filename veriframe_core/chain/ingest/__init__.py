"""Chain ingestion: JobRegistry events into the warehouse, transactional and reorg-aware.

One module per job: `ingestor` (the tick loop), `reorgs` (the cursor checked against the
chain, rollbacks), `reading` (batches of whole blocks), `calldata` (what the events leave
out), `folding` (events onto rows, COPY text), `writing` (the batch's transaction),
`projection` (the contract's rules replayed onto worker and job rows), `store` (the warehouse
statements, inside the caller's transaction). Which contract to follow is
`veriframe_core.chain.target`.
"""

from veriframe_core.chain.ingest.batches import TickReport
from veriframe_core.chain.ingest.ingestor import ChainIngestor
from veriframe_core.chain.target import IngestTarget, resolve_target

__all__ = ["ChainIngestor", "IngestTarget", "TickReport", "resolve_target"]
