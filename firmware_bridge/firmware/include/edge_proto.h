/* edge_proto: portable C99 encoder for the edge-rep wire protocol v1.1 (see ../../PROTOCOL.md).
 *
 * No malloc, no globals: every function writes into buffers the caller owns. A frame is built in
 * two steps: the message into a raw buffer (edge_writer_t, at most EDGE_MAX_FRAME bytes), then
 * edge_finish() appends the CRC-32C and COBS-encodes it between two 0x00 delimiters into an output
 * buffer of EDGE_MAX_WIRE bytes, ready for the UART.
 *
 *   uint8_t raw[EDGE_MAX_FRAME], wire[EDGE_MAX_WIRE];
 *   edge_writer_t w;
 *   edge_header_t h = {board_id, seq++, now_us};
 *   edge_data_begin(&w, raw, sizeof raw, &h);
 *   edge_data_block_i16(&w, 0, first_index, samples, n);
 *   size_t len = edge_finish(&w, wire, sizeof wire);   // 0 = did not fit
 *
 * Any overflow sets w.overflow and makes edge_finish() return 0, so the caller checks once.
 */
#ifndef EDGE_PROTO_H
#define EDGE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define EDGE_VERSION_MAJOR 1
#define EDGE_VERSION_MINOR 1

#define EDGE_MSG_HELLO 0x01
#define EDGE_MSG_DATA 0x02
#define EDGE_MSG_HEARTBEAT 0x03
#define EDGE_MSG_STATUS 0x04

#define EDGE_FMT_INT16 1
#define EDGE_FMT_INT24 2
#define EDGE_FMT_INT32 3
#define EDGE_FMT_FLOAT32 4

#define EDGE_MOD_ACOUSTIC 1
#define EDGE_MOD_SEISMIC 2

#define EDGE_BOARD_BUFFER_OVERFLOW (1u << 0)
#define EDGE_BOARD_CLOCK_FAULT (1u << 1)
#define EDGE_CH_ADC_OVERRUN (1u << 0)
#define EDGE_CH_SENSOR_DISCONNECTED (1u << 1)
#define EDGE_CH_BUFFER_OVERFLOW (1u << 2)
#define EDGE_CH_CLIPPING (1u << 3)
/* STATUS state (1.1): the bits of a channel that hold now; only SENSOR_DISCONNECTED is a state */
#define EDGE_STATE_BITS EDGE_CH_SENSOR_DISCONNECTED

#define EDGE_HEADER_SIZE 18
#define EDGE_CRC_SIZE 4
#define EDGE_BLOCK_HEADER_SIZE 12
#define EDGE_MAX_FRAME 4096                                     /* raw: header + payload + CRC */
#define EDGE_MAX_ENCODED (EDGE_MAX_FRAME + (EDGE_MAX_FRAME + 253) / 254)
#define EDGE_MAX_WIRE (EDGE_MAX_ENCODED + 2)                    /* with both 0x00 delimiters */

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
} edge_writer_t;

typedef struct {
    uint16_t board_id;
    uint32_t seq;
    uint64_t timestamp_us;
} edge_header_t;

typedef struct {
    uint8_t channel_id;
    uint8_t modality;       /* EDGE_MOD_* */
    uint8_t fmt;            /* EDGE_FMT_* */
    uint32_t rate_mhz;      /* sampling rate in millihertz: 8 kHz = 8000000 */
    float scale;            /* physical units per raw count */
    const char *units;      /* "Pa", "m/s" */
    const char *sensor;     /* sensor model */
} edge_channel_desc_t;

typedef struct {
    uint8_t channel_id;
    uint16_t flags;         /* EDGE_CH_* seen since the previous STATUS (latched) */
    uint16_t state;         /* EDGE_STATE_BITS that hold now (1.1): EDGE_CH_SENSOR_DISCONNECTED or 0 */
} edge_channel_status_t;

/* CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init 0xFFFFFFFF, xorout 0xFFFFFFFF.
 * edge_crc32c(0, "123456789", 9) == 0xE3069283. Pass the previous result to continue a CRC. */
uint32_t edge_crc32c(uint32_t crc, const void *data, size_t n);

/* COBS-encode n bytes into out (no delimiter added). Returns the encoded length, 0 if cap is too small. */
size_t edge_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Low-level writer: little-endian fields. */
void edge_writer_init(edge_writer_t *w, uint8_t *buf, size_t cap);
void edge_put_u8(edge_writer_t *w, uint8_t v);
void edge_put_u16(edge_writer_t *w, uint16_t v);
void edge_put_u32(edge_writer_t *w, uint32_t v);
void edge_put_u64(edge_writer_t *w, uint64_t v);
void edge_put_f32(edge_writer_t *w, float v);
void edge_put_str8(edge_writer_t *w, const char *s);   /* u8 length + UTF-8 bytes; longer than 255 = overflow */

/* Start a frame of any type (the writer is (re)initialised on buf). */
void edge_begin(edge_writer_t *w, uint8_t *buf, size_t cap, uint8_t type, const edge_header_t *h);

/* Messages. */
void edge_hello(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h, uint64_t board_uid,
                const char *board_name, const char *firmware, const edge_channel_desc_t *ch, uint8_t n_channels);
void edge_data_begin(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h);
void edge_data_block_i16(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const int16_t *s, uint16_t n);
void edge_data_block_i24(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const int32_t *s, uint16_t n);
void edge_data_block_i32(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const int32_t *s, uint16_t n);
void edge_data_block_f32(edge_writer_t *w, uint8_t channel_id, uint64_t first_index, const float *s, uint16_t n);
void edge_heartbeat(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h, uint32_t frames_dropped);
/* STATUS: the latched flags of every channel, then (1.1) the state of every channel, in the same order. */
void edge_status(edge_writer_t *w, uint8_t *buf, size_t cap, const edge_header_t *h, uint32_t board_flags,
                 const edge_channel_status_t *ch, uint8_t n_channels);

/* Append the CRC and write 0x00, COBS(frame), 0x00 into out. Returns the bytes to send, 0 on any overflow. */
size_t edge_finish(edge_writer_t *w, uint8_t *out, size_t cap);

#endif
