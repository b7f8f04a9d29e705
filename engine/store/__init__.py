"""The engine's memory: SQLite through SQLModel, behind the domain model.

Everything outside this package holds a ``Store`` and speaks ``engine.model``; the tables and
sessions stay in here (architecture rule 2), so research and backtests never need a database.
"""

from engine.store.audit import FILL_ACTION, AuditRecord, AuditVerification, fill_payload
from engine.store.db import SCHEMA_VERSION, StoreError, default_database_path, open_database
from engine.store.repository import Store
from engine.store.rows import ExecutionRecord, RiskEventRecord

__all__ = [
    "FILL_ACTION",
    "SCHEMA_VERSION",
    "AuditRecord",
    "AuditVerification",
    "ExecutionRecord",
    "RiskEventRecord",
    "Store",
    "StoreError",
    "default_database_path",
    "fill_payload",
    "open_database",
]
