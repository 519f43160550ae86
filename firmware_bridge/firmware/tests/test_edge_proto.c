/* Host unit tests of the C encoder: CRC check value, COBS vectors, framing, bounds. Exit code = failures. */
#include <stdio.h>
#include <string.h>

#include "edge_proto.h"

static int failures;
#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                         \
        }                                                                       \
    } while (0)

/* Reference COBS decoder, for round trips. Returns the decoded length, or (size_t)-1 on bad input. */
static size_t cobs_decode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++], k;
        if (code == 0)
            return (size_t)-1;
        for (k = 1; k < code; k++) {
            if (i >= n)
                return (size_t)-1;
            out[o++] = in[i++];
        }
        if (code < 0xFF && i < n)
            out[o++] = 0;
    }
    return o;
}

static void test_crc(void)
{
    CHECK(edge_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(edge_crc32c(edge_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
    CHECK(edge_crc32c(0, "", 0) == 0);
}

static int cobs_is(const uint8_t *in, size_t n, const uint8_t *want, size_t wn)
{
    uint8_t out[600];
    size_t got = edge_cobs_encode(in, n, out, sizeof out);
    return got == wn && memcmp(out, want, wn) == 0;
}

static void test_cobs(void)
{
    static const uint8_t a[] = {0x00}, ae[] = {0x01, 0x01};
    static const uint8_t b[] = {0x00, 0x00}, be[] = {0x01, 0x01, 0x01};
    static const uint8_t c[] = {0x11, 0x22, 0x00, 0x33}, ce[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    static const uint8_t d[] = {0x11, 0x00, 0x00, 0x00}, de[] = {0x02, 0x11, 0x01, 0x01, 0x01};
    uint8_t run[255], enc[600], dec[600];
    size_t i, n;
    CHECK(cobs_is(a, 1, ae, 2));
    CHECK(cobs_is(b, 2, be, 3));
    CHECK(cobs_is(c, 4, ce, 5));
    CHECK(cobs_is(d, 4, de, 5));
    for (i = 0; i < 255; i++)
        run[i] = (uint8_t)(i + 1 == 256 ? 1 : (i % 255) + 1);
    /* exactly 254 non-zero bytes: one group, no trailing code byte */
    n = edge_cobs_encode(run, 254, enc, sizeof enc);
    CHECK(n == 255 && enc[0] == 0xFF);
    /* 255 non-zero bytes: a second group of one */
    n = edge_cobs_encode(run, 255, enc, sizeof enc);
    CHECK(n == 257 && enc[255] == 0x02);
    CHECK(cobs_decode(enc, n, dec) == 255 && memcmp(dec, run, 255) == 0);
    for (i = 0; i < n; i++)
        CHECK(enc[i] != 0);
    /* too small an output buffer is refused, never overrun */
    CHECK(edge_cobs_encode(c, 4, enc, 4) == 0);
}

static void test_frame(void)
{
    uint8_t raw[EDGE_MAX_FRAME], wire[EDGE_MAX_WIRE], dec[EDGE_MAX_FRAME];
    int16_t mic[3] = {1, -2, 32767};
    int32_t geo[3] = {-8388608, 9000000, -1}; /* 9000000 saturates to 8388607 */
    edge_writer_t w;
    edge_header_t h = {7, 42, 123456789ull};
    size_t n, m;
    uint32_t crc;
    edge_data_begin(&w, raw, sizeof raw, &h);
    edge_data_block_i16(&w, 0, 1000, mic, 3);
    edge_data_block_i24(&w, 1, 12, geo, 3);
    n = edge_finish(&w, wire, sizeof wire);
    CHECK(n > 0 && wire[0] == 0 && wire[n - 1] == 0);
    for (m = 1; m + 1 < n; m++)
        CHECK(wire[m] != 0);
    m = cobs_decode(wire + 1, n - 2, dec);
    CHECK(m == EDGE_HEADER_SIZE + 1 + 2 * EDGE_BLOCK_HEADER_SIZE + 6 + 9 + EDGE_CRC_SIZE);
    CHECK(dec[0] == 1 && dec[1] == EDGE_VERSION_MINOR && dec[2] == EDGE_MSG_DATA && dec[4] == 7 && dec[6] == 42);
    CHECK(dec[EDGE_HEADER_SIZE] == 2); /* block count */
    crc = (uint32_t)dec[m - 4] | (uint32_t)dec[m - 3] << 8 | (uint32_t)dec[m - 2] << 16 | (uint32_t)dec[m - 1] << 24;
    CHECK(crc == edge_crc32c(0, dec, m - 4));
    /* the saturated int24 sample: 0x7FFFFF little-endian, third sample of block 2 is -1 = FF FF FF */
    CHECK(dec[m - 4 - 9 + 3] == 0xFF && dec[m - 4 - 9 + 4] == 0xFF && dec[m - 4 - 9 + 5] == 0x7F);
    CHECK(dec[m - 5] == 0xFF && dec[m - 6] == 0xFF && dec[m - 7] == 0xFF);
}

/* STATUS 1.1: the latched flags of each channel, then the state of each channel, appended in the same order. */
static void test_status(void)
{
    uint8_t raw[EDGE_MAX_FRAME], wire[EDGE_MAX_WIRE], dec[EDGE_MAX_FRAME];
    edge_channel_status_t st[2] = {{0, EDGE_CH_SENSOR_DISCONNECTED | EDGE_CH_CLIPPING, 0},
                                   {5, EDGE_CH_SENSOR_DISCONNECTED, EDGE_CH_SENSOR_DISCONNECTED}};
    edge_writer_t w;
    edge_header_t h = {1, 9, 2000000ull};
    size_t n, m;
    const uint8_t *p = dec + EDGE_HEADER_SIZE;
    edge_status(&w, raw, sizeof raw, &h, EDGE_BOARD_CLOCK_FAULT, st, 2);
    n = edge_finish(&w, wire, sizeof wire);
    CHECK(n > 0);
    m = cobs_decode(wire + 1, n - 2, dec);
    CHECK(m == EDGE_HEADER_SIZE + 4 + 1 + 2 * 4 + 2 * 2 + EDGE_CRC_SIZE);
    CHECK(p[0] == EDGE_BOARD_CLOCK_FAULT && p[4] == 2);
    CHECK(p[5] == 0 && p[7] == (EDGE_CH_SENSOR_DISCONNECTED | EDGE_CH_CLIPPING) && p[9] == 5);
    CHECK(p[13] == 0 && p[14] == 0);                                  /* channel 0: connected now (back) */
    CHECK(p[15] == EDGE_CH_SENSOR_DISCONNECTED && p[16] == 0);        /* channel 5: still disconnected */
}

static void test_bounds(void)
{
    static uint8_t raw[EDGE_MAX_FRAME + 64], wire[EDGE_MAX_WIRE];
    static int16_t big[2100];
    uint8_t small[20];
    char longname[300];
    edge_writer_t w;
    edge_header_t h = {1, 0, 0};
    /* a raw buffer too small: overflow is sticky and finish refuses */
    edge_heartbeat(&w, small, 20, &h, 5);
    CHECK(w.overflow == 1 && edge_finish(&w, wire, sizeof wire) == 0);
    /* a frame above EDGE_MAX_FRAME is refused even if the caller's buffer is larger */
    edge_data_begin(&w, raw, sizeof raw, &h);
    edge_data_block_i16(&w, 0, 0, big, 2100);
    CHECK(edge_finish(&w, wire, sizeof wire) == 0);
    /* the largest legal frame fits EDGE_MAX_WIRE */
    memset(big, 0, sizeof big);
    edge_data_begin(&w, raw, sizeof raw, &h);
    edge_data_block_i16(&w, 0, 0, big, (EDGE_MAX_FRAME - EDGE_HEADER_SIZE - 1 - EDGE_BLOCK_HEADER_SIZE - EDGE_CRC_SIZE) / 2);
    CHECK(edge_finish(&w, wire, sizeof wire) > 0);
    /* strings over 255 bytes are refused */
    memset(longname, 'x', 299);
    longname[299] = 0;
    edge_hello(&w, raw, sizeof raw, &h, 1, longname, "1", NULL, 0);
    CHECK(w.overflow == 1);
    /* too small an output buffer */
    edge_heartbeat(&w, raw, sizeof raw, &h, 5);
    CHECK(edge_finish(&w, wire, 10) == 0);
}

int main(void)
{
    test_crc();
    test_cobs();
    test_frame();
    test_status();
    test_bounds();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("all C encoder tests passed\n");
    return failures ? 1 : 0;
}
