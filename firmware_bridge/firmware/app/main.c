/* main.c: the same on every board; only hal_<board>.c differs. */
#include "app.h"
#include "hal.h"

int main(void)
{
    hal_init();
    app_init();
    hal_timer_start(APP_TICK_HZ, app_tick);
    for (;;) {
        app_poll();
        hal_idle();
    }
}
