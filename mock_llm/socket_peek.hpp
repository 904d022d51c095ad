#pragma once
// What a socket the reactor called readable really holds, seen without reading it:
// nothing at all (the peer closed, or an error), nothing yet (a spurious wake-up:
// the reactor can report readiness left over from the last read), or bytes.
#include <sys/socket.h>

#include <cerrno>

namespace cohort::mock_llm {

enum class peeked { closed, nothing_yet, bytes };

inline peeked peek_socket(int fd) {
  char byte;
  auto n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return peeked::nothing_yet;
  return n <= 0 ? peeked::closed : peeked::bytes;
}

}  // namespace cohort::mock_llm
