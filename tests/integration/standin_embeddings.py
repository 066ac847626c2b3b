"""The embeddings half of the OpenAI-compatible STAND-IN server (test_ai.StandIn): NOT a model.

POST /v1/embeddings {"model", "input": [texts]} answers {"data": [{"index", "embedding"}]}
with a deterministic bag of hashed words: each word (ASCII letters and digits, lower-cased,
common words dropped) is first mapped through a small synonym table, then hashed into one of
DIMENSIONS buckets. Texts sharing no word but only synonyms ("disk filled" and "the drive is
full") therefore get close vectors, which BM25 cannot see: what test_embeddings.py relies on."""
import hashlib
import json
import re

DIMENSIONS = 256

# word -> the concept it is counted as (both sides of a pair end in one bucket).
SYNONYMS = {
    "disk": "drive", "disks": "drive", "volume": "drive",
    "filled": "full", "exhausted": "full",
    "login": "signin", "logins": "signin", "authentication": "signin",
    "slow": "latency", "sluggish": "latency",
}
STOP = {"a", "an", "the", "is", "are", "of", "on", "in", "to", "and", "or", "when", "by", "for",
        "it", "up", "with", "this", "that", "be"}


def vector(text):
    out = [0.0] * DIMENSIONS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOP:
            continue
        word = SYNONYMS.get(word, word)
        bucket = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % DIMENSIONS
        out[bucket] += 1.0
    return out


def reply(handler, request, mode):
    """Answers one embeddings request on `handler` (a BaseHTTPRequestHandler). mode: "ok";
    "down" (HTTP 503); "wrong_count" (one vector fewer than the inputs)."""
    if mode == "down":
        status, body = 503, json.dumps({"error": {"message": "stand-in: down"}})
    else:
        inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
        data = [{"object": "embedding", "index": i, "embedding": vector(text)}
                for i, text in enumerate(inputs)]
        if mode == "wrong_count":
            data = data[:-1]
        status = 200
        body = json.dumps({"object": "list", "data": data, "model": request.get("model"),
                           "usage": {"prompt_tokens": 0, "total_tokens": 0}})
    data = body.encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
