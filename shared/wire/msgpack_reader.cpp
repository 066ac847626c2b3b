#include "shared/wire/msgpack_reader.h"

namespace faultline::wire {

bool MsgpackReader::fail(std::string message) {
  if (error_.empty()) {
    error_ = std::move(message) + " at byte " + std::to_string(pos_);
  }
  return false;
}

bool MsgpackReader::need(std::size_t n) {
  if (!error_.empty()) {
    return false;
  }
  if (data_.size() - pos_ < n) {
    return fail("truncated msgpack");
  }
  return true;
}

std::uint64_t MsgpackReader::bigEndian(std::size_t n) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    value = (value << 8) | byte();
  }
  return value;
}

bool MsgpackReader::readMapHeader(std::uint32_t* count) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  std::size_t width = 0;
  if ((tag & 0xf0) == 0x80) {
    ++pos_;
    *count = tag & 0x0f;
  } else if (tag == 0xde || tag == 0xdf) {
    width = tag == 0xde ? 2 : 4;
    if (!need(1 + width)) {
      return false;
    }
    ++pos_;
    *count = static_cast<std::uint32_t>(bigEndian(width));
  } else {
    return fail("expected a map");
  }
  // Every entry takes at least two bytes: a cheap bound before the caller loops.
  if ((data_.size() - pos_) / 2 < *count) {
    return fail("map count larger than the remaining input");
  }
  return true;
}

bool MsgpackReader::readArrayHeader(std::uint32_t* count) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  if ((tag & 0xf0) == 0x90) {
    ++pos_;
    *count = tag & 0x0f;
  } else if (tag == 0xdc || tag == 0xdd) {
    std::size_t width = tag == 0xdc ? 2 : 4;
    if (!need(1 + width)) {
      return false;
    }
    ++pos_;
    *count = static_cast<std::uint32_t>(bigEndian(width));
  } else {
    return fail("expected an array");
  }
  if (data_.size() - pos_ < *count) {
    return fail("array count larger than the remaining input");
  }
  return true;
}

bool MsgpackReader::readLength(std::uint8_t tag, std::uint32_t* len, bool* is_str) {
  std::size_t width = 0;
  *is_str = true;
  if ((tag & 0xe0) == 0xa0) {
    *len = tag & 0x1f;
    return true;
  }
  switch (tag) {
    case 0xd9: width = 1; break;
    case 0xda: width = 2; break;
    case 0xdb: width = 4; break;
    case 0xc4: width = 1; *is_str = false; break;
    case 0xc5: width = 2; *is_str = false; break;
    case 0xc6: width = 4; *is_str = false; break;
    default: return false;
  }
  if (!need(width)) {
    return false;
  }
  *len = static_cast<std::uint32_t>(bigEndian(width));
  return true;
}

bool MsgpackReader::readString(std::string_view* out) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  std::uint32_t len = 0;
  bool is_str = false;
  std::size_t start = pos_;
  ++pos_;
  if (!readLength(tag, &len, &is_str) || !is_str) {
    pos_ = start;
    return fail("expected a string");
  }
  if (!need(len)) {
    return false;
  }
  *out = data_.substr(pos_, len);
  pos_ += len;
  return true;
}

bool MsgpackReader::readBinary(std::string_view* out) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  std::uint32_t len = 0;
  bool is_str = false;
  std::size_t start = pos_;
  ++pos_;
  if (!readLength(tag, &len, &is_str)) {
    pos_ = start;
    return fail("expected binary or string");
  }
  if (!need(len)) {
    return false;
  }
  *out = data_.substr(pos_, len);
  pos_ += len;
  return true;
}

bool MsgpackReader::readInt(std::int64_t* out) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  if (tag <= 0x7f) {
    ++pos_;
    *out = tag;
    return true;
  }
  if (tag >= 0xe0) {
    ++pos_;
    *out = static_cast<std::int8_t>(tag);
    return true;
  }
  std::size_t width = 0;
  bool is_signed = false;
  switch (tag) {
    case 0xcc: width = 1; break;
    case 0xcd: width = 2; break;
    case 0xce: width = 4; break;
    case 0xcf: width = 8; break;
    case 0xd0: width = 1; is_signed = true; break;
    case 0xd1: width = 2; is_signed = true; break;
    case 0xd2: width = 4; is_signed = true; break;
    case 0xd3: width = 8; is_signed = true; break;
    default: return fail("expected an integer");
  }
  if (!need(1 + width)) {
    return false;
  }
  ++pos_;
  std::uint64_t raw = bigEndian(width);
  if (is_signed) {
    // Sign-extend from `width` bytes.
    unsigned shift = static_cast<unsigned>(64 - width * 8);
    *out = static_cast<std::int64_t>(raw << shift) >> shift;
  } else {
    if (raw > static_cast<std::uint64_t>(INT64_MAX)) {
      return fail("integer out of range");
    }
    *out = static_cast<std::int64_t>(raw);
  }
  return true;
}

bool MsgpackReader::readUint(std::uint64_t* out) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  if (tag == 0xcf) {
    if (!need(9)) {
      return false;
    }
    ++pos_;
    *out = bigEndian(8);
    return true;
  }
  std::int64_t value = 0;
  if (!readInt(&value)) {
    return false;
  }
  if (value < 0) {
    return fail("expected a non-negative integer");
  }
  *out = static_cast<std::uint64_t>(value);
  return true;
}

bool MsgpackReader::readBool(bool* out) {
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  if (tag != 0xc2 && tag != 0xc3) {
    return fail("expected a boolean");
  }
  ++pos_;
  *out = tag == 0xc3;
  return true;
}

bool MsgpackReader::peekNil() const {
  return error_.empty() && pos_ < data_.size() && static_cast<std::uint8_t>(data_[pos_]) == 0xc0;
}

bool MsgpackReader::readNil() {
  if (!need(1)) {
    return false;
  }
  if (static_cast<std::uint8_t>(data_[pos_]) != 0xc0) {
    return fail("expected nil");
  }
  ++pos_;
  return true;
}

bool MsgpackReader::skip(int max_depth) {
  if (max_depth < 0) {
    return fail("msgpack nested too deeply");
  }
  if (!need(1)) {
    return false;
  }
  std::uint8_t tag = static_cast<std::uint8_t>(data_[pos_]);
  std::uint32_t count = 0;
  if ((tag & 0xf0) == 0x80 || tag == 0xde || tag == 0xdf) {
    if (!readMapHeader(&count)) {
      return false;
    }
    for (std::uint32_t i = 0; i < count * 2ULL; ++i) {
      if (!skip(max_depth - 1)) {
        return false;
      }
    }
    return true;
  }
  if ((tag & 0xf0) == 0x90 || tag == 0xdc || tag == 0xdd) {
    if (!readArrayHeader(&count)) {
      return false;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
      if (!skip(max_depth - 1)) {
        return false;
      }
    }
    return true;
  }
  std::string_view ignored;
  std::int64_t ignored_int = 0;
  bool ignored_bool = false;
  if (tag == 0xc0) {
    return readNil();
  }
  if (tag == 0xc2 || tag == 0xc3) {
    return readBool(&ignored_bool);
  }
  if ((tag & 0xe0) == 0xa0 || tag == 0xd9 || tag == 0xda || tag == 0xdb || tag == 0xc4 ||
      tag == 0xc5 || tag == 0xc6) {
    return readBinary(&ignored);
  }
  if (tag == 0xcf) {
    std::uint64_t ignored_uint = 0;
    return readUint(&ignored_uint);
  }
  if (tag <= 0x7f || tag >= 0xe0 || (tag >= 0xcc && tag <= 0xd3)) {
    return readInt(&ignored_int);
  }
  if (tag == 0xca || tag == 0xcb) {
    std::size_t width = tag == 0xca ? 4 : 8;
    if (!need(1 + width)) {
      return false;
    }
    pos_ += 1 + width;
    return true;
  }
  return fail("unsupported msgpack type");
}

}  // namespace faultline::wire
