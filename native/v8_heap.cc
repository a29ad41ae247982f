/*
 * Giving V8's spare heap back to the system after a burst of logins.
 *
 * Why this file is C++: the calls it makes, Isolate::MemoryPressureNotification,
 * are V8's own API and are reachable neither from JavaScript nor through N-API.
 * A burst of logins grows V8's young generation to its maximum (32 MiB here)
 * and promotes whatever was in flight at each scavenge; once the burst is
 * over nothing shrinks it again until V8's memory reducer happens to run,
 * which it may not do for minutes. Moderate pressure starts the collection
 * V8's memory reducer would run (incremental marking that compacts and
 * shrinks the young generation to its minimum when it finishes), in steps
 * between the event loop's turns: the call returns in a few milliseconds.
 * LowMemoryNotification or critical pressure would do the same work at once,
 * a 150-500 ms pause with a large heap (docs/performance.md).
 * Pressure goes back to none at once: the collection keeps the flags it
 * started with, and V8 left under pressure would keep optimizing for size
 * (more collections, smaller heap growth) during the next burst.
 * JavaScript decides when (src/gateway/heap-release.ts); this only acts.
 *
 * Ownership: nothing is allocated here. The isolate is Node's.
 */
#include <node_api.h>
#include <v8.h>

extern "C" napi_value iamdb_js_release_heap(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  // N-API calls run on the JS thread of the env's isolate: the current one, so V8 acts on the
  // notification before it returns (starts the marking) rather than through an interrupt.
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return nullptr;
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
  return nullptr;
}
