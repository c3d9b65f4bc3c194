// SQLite schema of the results store, one entry per schema version. Migrations
// run forward in order; PRAGMA user_version holds the version a file is at.
#pragma once

#include <array>
#include <string_view>

namespace attnbench::store {

/// migrations[i] takes a database from user_version i to i + 1.
inline constexpr std::array<std::string_view, 3> kMigrations = {R"sql(
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  started_at    TEXT NOT NULL,              -- ISO-8601 UTC
  finished_at   TEXT,
  status        TEXT NOT NULL,              -- incomplete | complete | failed
  git_sha       TEXT, build_type TEXT, compiler TEXT, compile_flags TEXT,
  library_versions TEXT,                    -- JSON object name -> version
  host TEXT, os TEXT, cpu TEXT, gpu TEXT, driver TEXT,
  command_line  TEXT NOT NULL,
  seed          INTEGER NOT NULL,
  quick         INTEGER NOT NULL,
  selection     TEXT NOT NULL               -- JSON: suites, backends, filters (for --resume)
);
CREATE TABLE cases (
  id         INTEGER PRIMARY KEY,
  run_id     INTEGER NOT NULL REFERENCES runs(id),
  case_key   TEXT NOT NULL,                 -- suite/backend/config/shape: unique within a run
  suite      TEXT NOT NULL,
  suite_file_hash TEXT NOT NULL,
  phase      TEXT NOT NULL,                 -- correctness | prefill | decode | ...
  backend    TEXT NOT NULL,
  device     TEXT NOT NULL,
  variant    TEXT NOT NULL,
  config     TEXT NOT NULL,                 -- canonical configuration string
  dtype      TEXT NOT NULL,
  batch INTEGER, heads_q INTEGER, heads_kv INTEGER, len_q INTEGER, len_k INTEGER,
  head_dim INTEGER, page_size INTEGER,
  shape      TEXT NOT NULL,                 -- canonical shape string
  status     TEXT NOT NULL,                 -- ok | failed | unsupported | no_device | oom | error
  message    TEXT NOT NULL DEFAULT '',
  flops      REAL, bytes REAL,              -- model counts per call
  UNIQUE (run_id, case_key)
);
CREATE TABLE samples (
  case_id    INTEGER NOT NULL REFERENCES cases(id),
  repetition INTEGER NOT NULL,
  iterations INTEGER NOT NULL,
  seconds    REAL NOT NULL,                 -- per call
  PRIMARY KEY (case_id, repetition)
);
CREATE TABLE metrics (
  case_id INTEGER NOT NULL REFERENCES cases(id),
  name    TEXT NOT NULL,
  value   REAL,
  unit    TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (case_id, name)
);
CREATE TABLE machine_peaks (
  run_id  INTEGER NOT NULL REFERENCES runs(id),
  backend TEXT NOT NULL,
  device  TEXT NOT NULL,
  name    TEXT NOT NULL,                    -- flops_f32 | flops_f16 | flops_bf16 | bytes_per_second
  value   REAL NOT NULL,
  unit    TEXT NOT NULL,
  PRIMARY KEY (run_id, backend, device, name)
);
CREATE INDEX cases_by_run ON cases(run_id);
)sql",
// 2: the suite group of each case, and the published figure a reproduction case is
// measured against (JSON, NULL for ordinary cases), so reports need no suite files.
R"sql(
ALTER TABLE cases ADD COLUMN group_name TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN target TEXT;
)sql",
// 3: campaigns. Shards of one suite on many machines, or the two sides of an A/B run,
// share a name and read as one result; '' is a run on its own (shown as "run-<id>").
R"sql(
ALTER TABLE runs ADD COLUMN campaign TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_by_campaign ON runs(campaign);
)sql"};

}  // namespace attnbench::store
