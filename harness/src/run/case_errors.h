// What every attention executor does with what escapes a case: the backend's own status
// (out of memory, unsupported, error), host memory running out, any other error, each
// becomes the stored case's status and message instead of ending the worker.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "backend.h"
#include "results_store.h"

namespace attnbench {

/// Runs `body` (which fills `rec`); an exception it throws sets rec.status and
/// rec.message. `while_doing` completes "host out of memory while ...".
template <class Body>
void record_case_errors(store::CaseRecord& rec, const char* while_doing, Body&& body) {
  try {
    body();
  } catch (const BackendError& e) {
    rec.status = e.status() == AB_OUT_OF_MEMORY ? "oom" : e.status() == AB_UNSUPPORTED ? "unsupported" : "error";
    rec.message = e.what();
  } catch (const std::bad_alloc&) {
    rec.status = "oom";
    rec.message = std::string("host out of memory while ") + while_doing;
  } catch (const std::exception& e) {
    rec.status = "error";
    rec.message = e.what();
  }
}

}  // namespace attnbench
