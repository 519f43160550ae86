/* app.h: the example sensor-node application (board-independent; the board lives behind hal.h). */
#ifndef EDGE_APP_H
#define EDGE_APP_H

#define APP_TICK_HZ 8000u         /* timer rate = microphone sampling rate */
#define APP_GEO_DIVIDER 80u       /* geophone sampled every 80th tick: 100 Hz */
#define APP_MIC_BLOCK 400u        /* 50 ms of microphone samples per DATA frame */
#define APP_GEO_BLOCK 5u          /* 50 ms of geophone samples */
#define APP_BOARD_ID 1u
#define APP_HEARTBEAT_PERIOD_US 1000000u   /* HEARTBEAT + STATUS (PROTOCOL.md: at least every second) */
#define APP_HELLO_PERIOD_US 1000000u       /* HELLO repeated (PROTOCOL.md 1.1: at least every second) */

void app_init(void);              /* send the HELLO; call before hal_timer_start */
void app_tick(void);              /* timer interrupt: sample into the double buffers */
void app_poll(void);              /* main loop: frame and send full buffers, heartbeats, status, hello */

#endif
