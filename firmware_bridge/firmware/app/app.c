/* app.c: timer-driven sampling of a microphone (8 kHz, int16) and a geophone (100 Hz, int24) into
 * double buffers; the main loop frames every full half-buffer as DATA and sends it, plus a HEARTBEAT,
 * a STATUS and the HELLO once a second (the HELLO also at boot: a host that opens the port late knows
 * the channels within a second). A STATUS also goes out at once when a sensor is unplugged or back.
 *
 * Every frame built takes the next sequence number, also one that is then not sent (it did not fit):
 * the host sees the gap and the HEARTBEAT's frames_dropped counts it. Frames leave in sequence order.
 *
 * Double buffering: the interrupt fills half `active` while the main loop sends the other. If the
 * main loop has not sent the other half when the active one fills, the new block is dropped (its
 * samples are lost, the channel's sample index still advances) and BUFFER_OVERFLOW is reported:
 * the host sees the gap in first_index and the flag in STATUS.
 */
#include "app.h"

#include "edge_proto.h"
#include "hal.h"

typedef struct {
    uint16_t fill;                /* samples in the active half */
    uint8_t active;               /* half the interrupt writes */
    volatile uint8_t ready;       /* bit h set: half h is full and waits for the main loop */
    uint64_t next_index;          /* sample index of the next conversion (counts lost samples too) */
    uint64_t first[2];            /* sample index of each half's first sample */
    volatile uint16_t flags;      /* EDGE_CH_* seen since the last STATUS */
    uint16_t state;               /* EDGE_STATE_BITS that hold now (the sensor is unplugged) */
} chan_t;

static int16_t mic_buf[2][APP_MIC_BLOCK];
static int32_t geo_buf[2][APP_GEO_BLOCK];
static chan_t mic, geo;
static uint32_t tick_count, seq, frames_dropped;
static uint64_t next_heartbeat_us, next_hello_us;
static int status_now;            /* a sensor came or went: send a STATUS without waiting for the second */
static uint8_t raw[EDGE_MAX_FRAME], wire[EDGE_MAX_WIRE];

/* Microphone: ICS-40180 behind a preamp, 20 Pa full scale. Geophone: SM-24 (28.8 V/(m/s)) into a
 * 24-bit ADC with a 2.5 V reference: 2.5 / 2^23 / 28.8 = 1.0348e-8 (m/s) per count. */
static const edge_channel_desc_t channels[2] = {
    {0, EDGE_MOD_ACOUSTIC, EDGE_FMT_INT16, APP_TICK_HZ * 1000u, 20.0f / 32768.0f, "Pa", "ICS-40180"},
    {1, EDGE_MOD_SEISMIC, EDGE_FMT_INT24, APP_TICK_HZ * 1000u / APP_GEO_DIVIDER, 1.0348e-8f, "m/s", "SM-24"},
};

static edge_header_t header(void)
{
    edge_header_t h;
    h.board_id = APP_BOARD_ID;
    h.seq = seq++;
    h.timestamp_us = hal_micros();
    return h;
}

static void send(edge_writer_t *w)
{
    size_t n = edge_finish(w, wire, sizeof wire);
    if (n)
        hal_serial_write(wire, n);
    else
        frames_dropped++;
}

static void send_hello(void)
{
    edge_writer_t w;
    edge_header_t h = header();
    edge_hello(&w, raw, sizeof raw, &h, hal_board_uid(), "rp2040-node", "1.0.0", channels, 2);
    send(&w);
}

/* The interrupt side of one channel: store a sample, swap halves when full. */
static void push(chan_t *c, uint16_t block, void (*store)(uint8_t half, uint16_t i))
{
    if (c->fill == 0)
        c->first[c->active] = c->next_index;
    store(c->active, c->fill);
    c->next_index++;
    if (++c->fill < block)
        return;
    c->fill = 0;
    if (c->ready & (1u << (c->active ^ 1u))) {
        c->flags |= EDGE_CH_BUFFER_OVERFLOW;   /* main loop too slow: drop this block */
        return;
    }
    c->ready |= (uint8_t)(1u << c->active);
    c->active ^= 1u;
}

static void store_mic(uint8_t half, uint16_t i) { mic_buf[half][i] = hal_adc_mic(); }
static void store_geo(uint8_t half, uint16_t i) { geo_buf[half][i] = hal_adc_geophone(); }

void app_tick(void)
{
    push(&mic, APP_MIC_BLOCK, store_mic);
    if (tick_count++ % APP_GEO_DIVIDER == 0)
        push(&geo, APP_GEO_BLOCK, store_geo);
}

void app_init(void)
{
    send_hello();
    next_hello_us = hal_micros() + APP_HELLO_PERIOD_US;
    next_heartbeat_us = hal_micros() + APP_HEARTBEAT_PERIOD_US;
}

/* Whether a channel's block may be sent: a disconnected sensor sends none (its samples are lost, its
 * index runs on) and is latched in its flags; a change of state asks for a STATUS at once. */
static int connected(chan_t *c, uint8_t channel_id)
{
    uint16_t state = hal_sensor_connected(channel_id) ? 0u : (uint16_t)EDGE_CH_SENSOR_DISCONNECTED;
    if (state != c->state)
        status_now = 1;
    c->state = state;
    if (state) {
        uint32_t s = hal_irq_save();
        c->flags |= EDGE_CH_SENSOR_DISCONNECTED;
        hal_irq_restore(s);
    }
    return !state;
}

static void send_status(void)
{
    edge_writer_t w;
    edge_header_t h = header();
    edge_channel_status_t st[2];
    uint32_t s = hal_irq_save();
    st[0].channel_id = 0;
    st[0].flags = mic.flags;
    st[0].state = mic.state;
    st[1].channel_id = 1;
    st[1].flags = geo.flags;
    st[1].state = geo.state;
    mic.flags = geo.flags = 0;
    hal_irq_restore(s);
    edge_status(&w, raw, sizeof raw, &h, frames_dropped ? EDGE_BOARD_BUFFER_OVERFLOW : 0u, st, 2);
    send(&w);
    status_now = 0;
}

/* Oldest ready half of a channel, or -1. */
static int oldest_ready(const chan_t *c)
{
    uint8_t r = c->ready;
    if (r == 3u)
        return c->first[0] < c->first[1] ? 0 : 1;
    return r ? (int)(r >> 1) : -1;
}

static void clear_ready(chan_t *c, int half)
{
    uint32_t s = hal_irq_save();
    c->ready &= (uint8_t)~(1u << half);
    hal_irq_restore(s);
}

void app_poll(void)
{
    int hm = oldest_ready(&mic), hg = oldest_ready(&geo);
    uint64_t now = hal_micros();
    /* one DATA frame per 50 ms microphone block, carrying the geophone block of the same span
     * (it fills at tick 320 of the microphone's 400, so it is ready by then) */
    if (hm >= 0) {
        int mic_on = connected(&mic, 0), geo_on = hg >= 0 && connected(&geo, 1);
        if (mic_on || geo_on) {
            edge_writer_t w;
            edge_header_t h = header();
            edge_data_begin(&w, raw, sizeof raw, &h);
            if (mic_on)
                edge_data_block_i16(&w, 0, mic.first[hm], mic_buf[hm], APP_MIC_BLOCK);
            if (geo_on)
                edge_data_block_i24(&w, 1, geo.first[hg], geo_buf[hg], APP_GEO_BLOCK);
            send(&w);
        }
        clear_ready(&mic, hm);
        if (hg >= 0)
            clear_ready(&geo, hg);
    }
    if (now >= next_heartbeat_us) {
        edge_writer_t w;
        edge_header_t h = header();
        edge_heartbeat(&w, raw, sizeof raw, &h, frames_dropped);
        send(&w);
        send_status();
        next_heartbeat_us += APP_HEARTBEAT_PERIOD_US;
    } else if (status_now) {
        send_status();
    }
    if (now >= next_hello_us) {
        send_hello();
        next_hello_us += APP_HELLO_PERIOD_US;
    }
}
