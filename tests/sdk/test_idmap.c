/*  test_idmap.c — the private open-addressing table (session.h) against a plain array,
    with random inserts, replaces and deletes (backward-shift deletion is easy to get
    wrong), including keys that collide and the growth path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "session.h"
#include "xsp_test.h"

#define KEYS 5000

int main(void)
{
    static uintptr_t ref[KEYS];   /* value for key i+1, 0 = absent */
    xsp_idmap_t m;
    xsp_idmap_init(&m);
    CHECK(xsp_idmap_get(&m, 1) == NULL);
    CHECK(xsp_idmap_del(&m, 1) == NULL);
    CHECK(xsp_idmap_put(&m, 0, (void *) 1) == -1);  /* key 0 is reserved */
    srand(12345);
    size_t count = 0;
    for (int step = 0; step < 400000; step++) {
        uint64_t k = (uint64_t) (rand() % KEYS) + 1;
        int op = rand() % 3;
        if (op < 2) {
            uintptr_t v = (uintptr_t) step + 1;
            CHECK_EQ(xsp_idmap_put(&m, k, (void *) v), 0);
            if (!ref[k - 1])
                count++;
            ref[k - 1] = v;
        } else {
            void *got = xsp_idmap_del(&m, k);
            CHECK_EQ((uintptr_t) got, ref[k - 1]);
            if (ref[k - 1])
                count--;
            ref[k - 1] = 0;
        }
        CHECK_EQ(m.len, count);
        if (step % 997 == 0)
            for (uint64_t j = 1; j <= KEYS; j++)
                CHECK_EQ((uintptr_t) xsp_idmap_get(&m, j), ref[j - 1]);
    }
    /* sequential ids, as the client uses them */
    xsp_idmap_dispose(&m);
    xsp_idmap_init(&m);
    for (uint64_t k = 1; k <= 100000; k++)
        CHECK_EQ(xsp_idmap_put(&m, k, (void *) (uintptr_t) k), 0);
    for (uint64_t k = 1; k <= 100000; k += 2)
        CHECK_EQ((uintptr_t) xsp_idmap_del(&m, k), k);
    for (uint64_t k = 1; k <= 100000; k++)
        CHECK_EQ((uintptr_t) xsp_idmap_get(&m, k), k % 2 ? 0 : k);
    CHECK_EQ(m.len, 50000);
    xsp_idmap_dispose(&m);
    puts("ok");
    return 0;
}
