/* Worker -> supervisor report protocol.
 *
 * A frame is a 4-byte big-endian payload length followed by that many bytes
 * of msgpack: a map with at least "v" (PROTO_VERSION) and "t" (message type
 * name: "hello", "progress", "heartbeat", "checkpoint", "result", "error"),
 * plus the fields of that type below (names as in the structs; a field
 * marked optional may be absent and then reads as 0). Unknown extra keys
 * are ignored (forward compatible); a missing required key, a
 * wrong type, an unknown type name, another version, a payload over
 * PROTO_MAX_FRAME or trailing bytes inside a frame are protocol errors.
 *
 * Only this module and the worker's model files (modelio.c) include msgpack. Nothing here prints
 * or allocates on the caller's behalf except the decoder's own buffer. */
#ifndef TV_PROTO_H
#define TV_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_MAX_FRAME (64 * 1024)
#define PROTO_MAX_CHUNKS 64
#define PROTO_STR 256

typedef enum MsgType {
	MSG_HELLO = 1,
	MSG_PROGRESS,
	MSG_HEARTBEAT,
	MSG_CHECKPOINT,
	MSG_RESULT,
	MSG_ERROR,
} MsgType;

typedef struct MsgHello {
	int64_t pid;
	char ticker[64];
	char backend[16];   /* "cpu" | "cuda" */
	char device[64];    /* "cpu" or the GPU's name */
	int64_t batch_size;
	int64_t total_chunks;
	int64_t episodes_per_chunk;
	int64_t skipped_rows; /* price rows of "null" skipped as missing days;
	                       * optional: a frame without it reads as 0 */
} MsgHello;

typedef struct MsgProgress {
	int64_t chunk;       /* 0-based chunk being trained */
	int64_t episode;     /* episodes finished in that chunk */
	int64_t step;        /* gradient steps so far in this chunk */
	int64_t done_episodes;  /* over the whole ticker */
	int64_t total_episodes; /* chunks * episodes_per_chunk */
	double loss;         /* mean loss of the last episode */
	double epsilon;
	double reward;       /* total reward of the last episode */
} MsgProgress;

typedef struct MsgHeartbeat {
	int64_t rss_current;       /* bytes, from /proc/self/statm */
	int64_t rss_peak;          /* bytes, VmHWM */
	int64_t bytes_replay;      /* the worker's own accounting, current */
	int64_t bytes_activations;
	int64_t bytes_weights;     /* weights + gradients + optimizer state */
	int64_t bytes_device;      /* device memory allocated by the worker */
	int64_t peak_replay;       /* peaks of the four above */
	int64_t peak_activations;
	int64_t peak_weights;
	int64_t peak_device;
} MsgHeartbeat;

typedef struct MsgCheckpoint {
	char path[PROTO_STR];
	uint32_t checksum;    /* CRC-32 (zlib) of the file */
	int64_t chunk;        /* position the checkpoint resumes at */
	int64_t episode;
	int64_t done_episodes;
} MsgCheckpoint;

/* Limits of the result's optional curves (see MsgResult). */
#define PROTO_MAX_CURVE 2048
#define PROTO_MAX_FITS 256
#define PROTO_MAX_WEIGHTS 2048

typedef struct MsgResult {
	char model_path[PROTO_STR];
	uint32_t checksum;
	double total_return;
	double sharpe;
	double max_drawdown;
	double volatility;
	double win_rate;
	int64_t trades;
	double buy_hold_return;
	int64_t test_days;
	int64_t actions[3];   /* counts of SHORT, HOLD, LONG */
	/* Optional (0 = absent; the keys are left out of the frame): the
	 * out-of-sample equity curve and buy-and-hold, each relative to the
	 * first test day (1.0 there), one point every curve_step test days
	 * ("equity", "buy_hold": arrays of n_curve numbers, "curve_step");
	 * and the ensemble weights at each refit ("fit_dates": n_fits
	 * yyyymmdd integers, "weights": n_fits x n_models numbers, row by row,
	 * "n_models"). */
	int32_t n_curve, curve_step;
	float equity[PROTO_MAX_CURVE];
	float buy_hold[PROTO_MAX_CURVE];
	int32_t n_fits, n_models;
	int32_t fit_dates[PROTO_MAX_FITS];
	float weights[PROTO_MAX_WEIGHTS];
} MsgResult;

typedef struct MsgError {
	int64_t code;         /* the exit code the worker is about to use */
	char message[PROTO_STR];
} MsgError;

typedef struct Msg {
	MsgType type;
	union {
		MsgHello hello;
		MsgProgress progress;
		MsgHeartbeat heartbeat;
		MsgCheckpoint checkpoint;
		MsgResult result;
		MsgError error;
	} u;
} Msg;

/* Encodes one whole frame (length prefix included) into buf. Strings
 * longer than their field are cut at the field size. Returns the frame
 * length, or -ENOSPC when cap is too small, -EINVAL for a bad type. */
int proto_encode(const Msg *msg, uint8_t *buf, size_t cap);

/* Returns a message type's name ("hello", ...) or "?". */
const char *proto_type_name(MsgType type);

/* Incremental decoder for a byte stream (a pipe read in arbitrary pieces). */
typedef struct ProtoDecoder ProtoDecoder;

ProtoDecoder *proto_decoder_new(void);
void proto_decoder_free(ProtoDecoder *dec);  /* accepts NULL */

/* Appends bytes. Returns 0, or -EPROTO if the stream is already broken
 * (the decoder never buffers more than one frame: at most
 * 4 + PROTO_MAX_FRAME bytes). */
int proto_decoder_feed(ProtoDecoder *dec, const void *data, size_t len);

/* Takes the next complete message. Returns 1 and fills *ret_msg, 0 when
 * more bytes are needed, or -EPROTO for a malformed, oversized, unknown or
 * wrong-version frame (then every later call also fails: a stream that
 * lied once is not trusted again). On error, err (if not NULL) gets a
 * short description such as "frame of 1048576 bytes exceeds 65536". */
int proto_decoder_next(ProtoDecoder *dec, Msg *ret_msg, char *err, size_t errlen);

/* Bytes fed but not yet consumed (for "stream ended mid-frame" checks). */
size_t proto_decoder_pending(const ProtoDecoder *dec);

#endif
