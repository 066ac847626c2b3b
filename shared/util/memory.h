#pragma once

namespace faultline {

/// Tunes glibc malloc for a process that handles many MiB-sized buffers (batches) per second.
/// By default glibc serves such buffers with fresh mmaps and trims freed memory back to the OS,
/// so every batch re-faults its pages; on a VM each page fault is expensive (measured: over half
/// of the aggregator's ingest CPU). Call once at the top of main().
void tuneAllocatorForBatches();

/// tuneAllocatorForBatches, plus one malloc arena for the whole process: the agent's worker
/// threads (batch sealing) allocate little, and their own arenas kept ~3-4 MiB resident
/// after a burst that malloc_trim did not give back (measured: idle anon 10.2 -> 7.6 MiB, CPU
/// unchanged).
void tuneAllocatorForAgent();

/// Returns free heap memory to the system (glibc malloc_trim). For a process going idle after
/// a burst: tuneAllocatorForBatches keeps freed memory around while busy.
void releaseFreeMemory();

}  // namespace faultline
