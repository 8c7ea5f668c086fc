"""``visualizer export FILE -o OUT.parquet``: the per-packet analysis table as
Parquet, for DuckDB, pandas, Spark, Trino...

The rows are ``analyze --json``'s records (commands/records.py, or
path_records.py for a recording on a path) with one fixed schema, so the
files of a whole folder of recordings read as one table. The rows go out
in row groups as they are made: the table is never whole in memory.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from visualizer.commands import warn_about
from visualizer.commands.path_records import path_packet_records
from visualizer.commands.progress import counted, load_session
from visualizer.commands.records import packet_records
from visualizer.core.errors import BadInput
from visualizer.core.output import written

ROWS_PER_GROUP = 65_536

# (name, arrow type name, what it is); every record key of analyze --json.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("frame", "int64", "frame number in the file, from 1 (as Wireshark numbers it)"),
    ("time", "float64", "seconds since the first packet (on a path: since the first sent)"),
    ("epoch", "timestamp", "capture time, UTC, nanoseconds"),
    ("length", "int64", "frame length on the wire"),
    ("src", "string", "source IP address"),
    ("dst", "string", "destination IP address"),
    ("sport", "int32", "source port"),
    ("dport", "int32", "destination port"),
    ("protocol", "string", "TCP, UDP, ICMP, ..."),
    ("stream", "int32", "TCP stream number (tshark's tcp.stream)"),
    ("seq", "int64", "relative sequence number"),
    ("ack", "int64", "relative acknowledgement number"),
    ("next_seq", "int64", "relative next sequence number"),
    ("len", "int64", "TCP or UDP payload length"),
    ("flags", "string", "TCP flags, e.g. SYN,ACK"),
    ("window", "int64", "window size, scaled"),
    ("analysis", "list", "tcp.analysis flags, e.g. retransmission"),
    ("src_state", "string", "the sender's TCP state after the packet"),
    ("dst_state", "string", "the receiver's TCP state after the packet"),
    ("duplicate_ack_num", "int32", "which duplicate ACK this is"),
    ("bytes_in_flight", "int64", "unacknowledged bytes after the packet"),
    ("udp_flow", "int32", "UDP flow number"),
    ("icmp_type", "int32", "ICMP type"),
    ("icmp_code", "int32", "ICMP code"),
    ("answers_udp_flow", "int32", "the UDP flow an ICMP error answers"),
    ("answers_frame", "int64", "the datagram's frame an ICMP error answers"),
    ("status", "string", "why a frame was not decoded (null when it was)"),
    ("note", "string", "details of that status"),
    ("sent", "float64", "path: seconds when sent"),
    ("arrived", "float64", "path: seconds when it arrived (null: never)"),
    ("fate", "string", "path: delivered, lost, corrupted, duplicated"),
    ("lost_because", "string", "path: why it was lost"),
)


def _schema() -> Any:
    import pyarrow as pa

    types = {"int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(),
             "string": pa.string(), "timestamp": pa.timestamp("ns", tz="UTC"),
             "list": pa.list_(pa.string())}
    return pa.schema([pa.field(name, types[kind], metadata={"description": text})
                      for name, kind, text in COLUMNS],
                     metadata={"producer": "packet-visualizer"})


def _epoch_ns(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction or 0)


def write_parquet(records: Iterable[dict[str, Any]], output: str,
                  progress: Callable[[int], None] | None = None) -> int:
    """Write ``records`` to ``output`` (through core/output.py); the row count.

    A row group's values are gathered column by column (no row is kept as a
    dict), so memory stays at one group's columns whatever the file's size.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    names = [name for name, _, _ in COLUMNS]
    rows = 0
    with written(output, prefix=".export-") as out, \
            pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for columns, count in _groups(records, names, ROWS_PER_GROUP):
            writer.write_batch(pa.RecordBatch.from_pydict(columns, schema=schema))
            rows += count
            if progress is not None:
                progress(count)
    return rows


def _groups(records: Iterable[dict[str, Any]], names: list[str], size: int
            ) -> Iterator[tuple[dict[str, list[Any]], int]]:
    """Up to ``size`` records at a time, as one list per column."""
    columns: dict[str, list[Any]] = {name: [] for name in names}
    count = 0
    for rec in records:
        for name in names:
            columns[name].append(rec.get(name))
        columns["epoch"][-1] = _epoch_ns(rec["epoch"])
        count += 1
        if count == size:
            yield columns, count
            columns = {name: [] for name in names}
            count = 0
    if count:
        yield columns, count


def export_parquet(path: str, output: str, *, stream: int | None) -> int:
    with load_session(path) as session:
        store, analysis = session.store, session.analysis
        assert store is not None and analysis is not None
        if stream is not None and not 0 <= stream < len(analysis.tcp_summaries):
            raise BadInput(f"there is no TCP stream {stream}: {path} has "
                           f"{len(analysis.tcp_summaries)} (numbered from 0, see "
                           "'visualizer analyze --stats')")
        view = session.path_view
        records = (packet_records(store, analysis) if view is None
                   else path_packet_records(store, analysis, view))
        total = len(store) if view is None else len(view)
        records = counted(records, "exporting", total)   # every packet is looked at
        if stream is not None:
            records = (r for r in records if r["stream"] == stream)
        rows = write_parquet(records, output)
        code = warn_about(session)
    print(f"wrote {output}: {rows} packets (parquet)", file=sys.stderr)
    return code
