// Reading a results database never writes beside it: report and compare work in a
// read-only directory (a CI artifact, a shared mount) and leave no -wal/-shm files.
// Tests run as root in CI, where chmod does not stop writes; so rather than relying on
// a failed write, they check directly that no side file appears and that SQLite opened
// the file read-only (and immutable where the directory has no write bit).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "cli_harness.h"
#include "results_store.h"

using namespace attnbench;
using namespace attnbench::test;
namespace fs = std::filesystem;

namespace {

/// Provenance of a test run (built in one place: GCC 12 warns, wrongly, about
/// strings assigned member by member into a local RunRecord).
store::RunRecord a_run(const std::string& command_line) {
  store::RunRecord r;
  r.command_line = command_line;
  r.selection = "{}";
  return r;
}

store::CaseRecord timed_case(const std::string& key) {
  store::CaseRecord c;
  c.case_key = key;
  c.suite = "s";
  c.suite_file_hash = "h";
  c.phase = "prefill";
  c.backend = "cpu";
  c.device = "host";
  c.variant = "flash";
  c.config = "flash";
  c.dtype = "fp32";
  c.shape = "b=1";
  c.samples = {{0, 1, 1e-3}, {1, 1, 1.1e-3}, {2, 1, 0.9e-3}, {3, 1, 1e-3}};
  c.metrics = {{"time_median", 1e-3, "s"}, {"rel_error", 1e-7, "ratio"}};
  return c;
}

/// Two complete runs of two cases, written through the store as `attnbench run` does.
void make_db(const std::string& path) {
  store::ResultsStore db(path);
  for (int r = 0; r < 2; ++r) {
    const store::RunRecord run = a_run("attnbench run");
    const int64_t id = db.begin_run(run);
    db.add_case(id, timed_case("a"));
    db.add_case(id, timed_case("b"));
    db.finish_run(id, "complete");
  }
}

/// Switches a closed file to WAL mode at rest (SQLite removes the -wal on the last close).
void set_wal_mode(const std::string& path) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &h) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(h);
}

/// Byte 18 of the SQLite header: 1 rollback journal, 2 WAL.
int journal_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[20] = {};
  in.read(header, sizeof header);
  return header[18];
}

std::vector<std::string> side_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal")) out.push_back(name);
  }
  return out;
}

/// chmod 0555 for the lifetime of the object (0755 again before TempDir removes it).
struct ReadOnlyDir {
  fs::path dir;
  explicit ReadOnlyDir(const fs::path& d) : dir(d) {
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                             fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  }
  ~ReadOnlyDir() { fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec); }
};

}  // namespace

TEST_CASE("a writer leaves the file in rollback-journal mode with no side files") {
  TempDir t;
  const std::string db = t / "r.db";
  {
    store::ResultsStore st(db);
    CHECK(journal_format(db) == 2);  // WAL while open: readers see finished cases
    st.begin_run({});
  }
  CHECK(journal_format(db) == 1);
  CHECK(side_files(t.path).empty());
  {
    store::ResultsStore reader(db, /*read_only=*/true);
    CHECK(reader.connection().read_only());
    CHECK(reader.load_run(1));
  }
  CHECK(side_files(t.path).empty());  // a writable directory gets none either
}

TEST_CASE("report and compare read a database in a read-only directory and write nothing beside it") {
  TempDir t, out;
  fs::create_directories(t.path / "ro");
  const std::string db = (t.path / "ro" / "results.db").string();
  make_db(db);
  REQUIRE(side_files(t.path / "ro").empty());
  const std::string before = read_file(db);
  ReadOnlyDir ro(t.path / "ro");
  // Also as root (whom chmod does not stop): the directory's mode bits decide.
  CHECK_FALSE(store::directory_writable(db));

  {
    store::ResultsStore st(db, /*read_only=*/true);
    CHECK(st.connection().read_only());
    CHECK(st.load_run(2)->status == "complete");
    CHECK(side_files(t.path / "ro").empty());
  }
  const CmdResult report = run_attnbench("report --db " + db + " -o " + out / "r.html");
  INFO(report.err);
  CHECK(report.code == 0);
  CHECK(fs::exists(out / "r.html"));
  const CmdResult compare = run_attnbench("compare --db " + db + " 1 2");
  INFO(compare.err);
  CHECK(compare.code == 0);
  CHECK_THAT(compare.out, Catch::Contains("2 cases"));
  CHECK(run_attnbench("compare --aa 1 --db " + db).code == 0);

  CHECK(side_files(t.path / "ro").empty());
  CHECK(read_file(db) == before);
}

TEST_CASE("a WAL-mode file from an older build opens immutable in a read-only directory") {
  TempDir t, out;
  fs::create_directories(t.path / "ro");
  const std::string db = (t.path / "ro" / "results.db").string();
  make_db(db);
  set_wal_mode(db);  // as builds before rollback-at-rest left it
  REQUIRE(side_files(t.path / "ro").empty());
  ReadOnlyDir ro(t.path / "ro");
  {
    store::ResultsStore st(db, /*read_only=*/true);
    CHECK(st.connection().read_only());
    CHECK(st.connection().immutable());
    CHECK(st.load_run(2)->status == "complete");
  }
  CHECK(run_attnbench("report --db " + db + " -o " + out / "r.html").code == 0);
  CHECK(run_attnbench("compare --db " + db + " 1 2").code == 0);
  CHECK(side_files(t.path / "ro").empty());
}

TEST_CASE("a live writer's log is read, not skipped, in a read-only directory") {
  TempDir t;
  fs::create_directories(t.path / "ro");
  const std::string db = (t.path / "ro" / "results.db").string();
  make_db(db);
  // A writer still open, its last commit only in the -wal (no checkpoint yet).
  sqlite3* writer = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &writer) == SQLITE_OK);
  REQUIRE(sqlite3_exec(writer,
                       "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; INSERT INTO runs (started_at,"
                       " status, command_line, seed, quick, selection) VALUES ('2026-01-01T00:00:00Z', 'incomplete',"
                       " 'live', 0, 0, '{}')",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  REQUIRE(fs::exists(db + "-wal"));
  {
    ReadOnlyDir ro(t.path / "ro");
    store::ResultsStore st(db, /*read_only=*/true);
    CHECK(st.connection().read_only());
    CHECK_FALSE(st.connection().immutable());  // immutable would not see run 3
    const auto live = st.load_run(3);
    REQUIRE(live);
    CHECK(live->command_line == "live");
  }
  sqlite3_close(writer);
}

TEST_CASE("read-only opens use immutable only for an idle WAL file in an unwritable directory") {
  using store::ReadOnlyMode;
  CHECK(store::read_only_mode(true, false, false) == ReadOnlyMode::immutable);
  CHECK(store::read_only_mode(true, true, false) == ReadOnlyMode::plain);    // a live or crashed writer's WAL
  CHECK(store::read_only_mode(true, false, true) == ReadOnlyMode::plain);    // a writer may start: keep locking
  CHECK(store::read_only_mode(false, false, false) == ReadOnlyMode::plain);  // rollback mode needs no -shm
  CHECK(store::read_only_mode(false, true, true) == ReadOnlyMode::plain);
  CHECK(store::immutable_uri("/tmp/a b/x?%#.db") == "file:/tmp/a%20b/x%3F%25%23.db?immutable=1");
}

TEST_CASE("the immutable open reads a WAL-mode file at an awkward path and creates nothing") {
  TempDir t;
  const fs::path dir = t.path / "odd name %?#";
  fs::create_directories(dir);
  const std::string db = (dir / "results.db").string();
  make_db(db);
  set_wal_mode(db);
  REQUIRE(store::wal_mode_header(db));
  REQUIRE(side_files(dir).empty());

  sqlite3* h = nullptr;
  REQUIRE(store::open_read_only(db, &h, store::ReadOnlyMode::immutable) == SQLITE_OK);
  CHECK(sqlite3_db_readonly(h, "main") == 1);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT count(*) FROM cases", -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  CHECK(sqlite3_column_int(s, 0) == 4);
  sqlite3_finalize(s);
  sqlite3_close(h);
  CHECK(side_files(dir).empty());

  ReadOnlyDir ro(dir);
  CHECK(run_attnbench("report --db '" + db + "' -o " + t / "r.html").code == 0);
  CHECK(side_files(dir).empty());
}
