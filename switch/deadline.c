/*  deadline.c — the min-heap of request deadlines.

    Owns: sw->deadlines, a binary heap of sw_msg_t* ordered by deadline_ns; each record
    knows its own index (heap_idx) so removal on reply is O(log n).  Only requests with a
    deadline are in it.  Never touches: anything but heap_idx of the records.
*/
#include <stdlib.h>

#include "switch.h"

static void place(sw_t *sw, uint32_t i, sw_msg_t *m)
{
    sw->deadlines[i] = m;
    m->heap_idx = i;
}

static void sift_up(sw_t *sw, uint32_t i)
{
    sw_msg_t *m = sw->deadlines[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (sw->deadlines[parent]->deadline_ns <= m->deadline_ns)
            break;
        place(sw, i, sw->deadlines[parent]);
        i = parent;
    }
    place(sw, i, m);
}

static void sift_down(sw_t *sw, uint32_t i)
{
    sw_msg_t *m = sw->deadlines[i];
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, best = i;
        uint64_t best_dl = m->deadline_ns;
        if (l < sw->ndeadlines && sw->deadlines[l]->deadline_ns < best_dl) {
            best = l;
            best_dl = sw->deadlines[l]->deadline_ns;
        }
        if (r < sw->ndeadlines && sw->deadlines[r]->deadline_ns < best_dl)
            best = r;
        if (best == i)
            break;
        place(sw, i, sw->deadlines[best]);
        i = best;
    }
    place(sw, i, m);
}

int sw_deadline_add(sw_t *sw, sw_msg_t *m)
{
    if (sw->ndeadlines == sw->deadlines_cap) {
        uint32_t cap = sw->deadlines_cap ? sw->deadlines_cap * 2 : 1024;
        sw_msg_t **d = realloc(sw->deadlines, cap * sizeof *d);
        if (!d)
            return -1;
        sw->deadlines = d;
        sw->deadlines_cap = cap;
    }
    place(sw, sw->ndeadlines++, m);
    sift_up(sw, m->heap_idx);
    return 0;
}

void sw_deadline_remove(sw_t *sw, sw_msg_t *m)
{
    uint32_t i = m->heap_idx;
    if (i == SW_NO_HEAP)
        return;
    m->heap_idx = SW_NO_HEAP;
    sw_msg_t *last = sw->deadlines[--sw->ndeadlines];
    if (i == sw->ndeadlines)
        return;
    place(sw, i, last);
    sift_up(sw, i);
    sift_down(sw, last->heap_idx);
}

sw_msg_t *sw_deadline_peek(sw_t *sw)
{
    return sw->ndeadlines ? sw->deadlines[0] : NULL;
}
