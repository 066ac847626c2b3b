#pragma once

// The body of a streamed response (server-sent events): a producer writes chunks from any
// thread; the server's loop sends them. The bytes not yet written to the socket are bounded: a
// write beyond the bound closes the stream (a consumer that falls behind is cut off instead of
// growing memory). The body has no length: it ends when the connection closes.
//
// Threads: every public method may be called from any thread. The close callback runs once, on
// the server's loop thread (or on the thread that calls onClose() after the stream ended).

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace faultline::aggregator::http {

class ResponseStream {
 public:
  /// Default bound of the bytes queued and not yet written to the socket.
  static constexpr std::size_t kDefaultMaxBufferedBytes = 1u << 20;

  explicit ResponseStream(std::size_t max_buffered_bytes) : max_buffered_(max_buffered_bytes) {}
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  static std::shared_ptr<ResponseStream> create(
      std::size_t max_buffered_bytes = kDefaultMaxBufferedBytes) {
    return std::make_shared<ResponseStream>(max_buffered_bytes);
  }

  /// Queues `data` (may be called before the response is handed to Respond). False, with
  /// nothing queued, once the stream is closed; a write that would exceed the bound closes the
  /// stream as a slow consumer and returns false.
  bool write(std::string_view data);
  /// Ends the body after what is queued; the server then closes the connection.
  void end();
  /// True once no more writes are taken: ended, overflowed, or the connection is gone.
  bool closed() const;
  /// True when a write exceeded the bound.
  bool overflowed() const;
  /// Bytes queued and not yet written to the socket.
  std::size_t buffered() const;
  /// Called once when the connection behind the stream is gone (client left, overflow, server
  /// shutdown, end()). Replaces an earlier callback; runs at once if that already happened.
  /// The callback must not block; it is dropped after it ran (so it may own the producer).
  void onClose(std::function<void()> callback);

  // --- For the server (its loop thread) -------------------------------------------------------
  /// What the loop takes from the queue in one go.
  struct Taken {
    std::string data;
    bool ended = false;       // end() was called: close after `data`
    bool overflowed = false;  // cut off: close at once
  };
  /// Connects the stream to its connection: `wake` is called (under the stream's lock, so it
  /// must only post) whenever there is something new to take. Wakes at once if there is.
  void attach(std::function<void()> wake);
  /// Everything queued since the last take.
  Taken take();
  /// `bytes` of taken data reached the socket.
  void written(std::size_t bytes);
  /// The connection is gone (or never came): closes the stream and runs the close callback.
  void finish();

 private:
  void wakeLocked();

  const std::size_t max_buffered_;
  mutable std::mutex mu_;
  std::string pending_;         // queued, not taken by the loop yet
  std::size_t unsent_ = 0;      // pending_ plus taken bytes not written yet
  bool closed_ = false;         // no more writes
  bool ended_ = false;          // end() was called
  bool overflowed_ = false;     // a write exceeded the bound
  bool finished_ = false;       // the connection is gone; the callback ran or runs now
  bool wake_posted_ = false;    // the loop was woken and has not taken since
  std::function<void()> wake_;  // empty until attached
  std::function<void()> on_close_;
};

}  // namespace faultline::aggregator::http
