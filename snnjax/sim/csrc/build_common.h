// Helpers shared by the construction kernels of snnjax.sim (csr_build.cc, source_draws.cc):
// 1-D Python buffers and a fork-join over slices of an index range.
#pragma once

#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace snnjax_build {

struct Buffer {
  Py_buffer view{};
  bool held = false;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept : view(other.view), held(other.held) { other.held = false; }
  ~Buffer() {
    if (held) PyBuffer_Release(&view);
  }
};

// A C-contiguous 1-D buffer of `itemsize`-byte items (writable if asked).
inline bool Get(PyObject* obj, Buffer& buf, Py_ssize_t itemsize, bool writable, const char* what) {
  int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj, &buf.view, flags) != 0) return false;
  buf.held = true;
  if (buf.view.ndim != 1 || buf.view.itemsize != itemsize) {
    PyErr_Format(PyExc_ValueError, "`%s` must be a 1-D array of %zd-byte items", what,
                 itemsize);
    return false;
  }
  return true;
}

// Threads for `n` items: `requested` at most, one per `per_thread` items (at least one).
inline int SliceThreads(int64_t requested, int64_t n, int64_t per_thread) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(requested, n / per_thread + 1)));
}

// Calls f(lo, hi) on `threads` contiguous slices of [0, n) in parallel (slice 0 here).
template <typename F>
void Parallel(int threads, int64_t n, F&& f) {
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    pool.emplace_back([&f, t, n, threads] { f(t, n * t / threads, n * (t + 1) / threads); });
  }
  f(0, 0, n / threads);
  for (auto& th : pool) th.join();
}

}  // namespace snnjax_build
