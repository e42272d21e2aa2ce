/*
 * timestamp.c - the TIMESTAMP field: parse it to ms since the epoch (UTC) and
 * format ms back as RFC 3339.
 *
 * Pure arithmetic on purpose: timegm(), strptime() and friends depend on the
 * locale and TZ and are not reentrant everywhere, and this runs once per line.
 * The calendar conversions are Howard Hinnant's days_from_civil /
 * civil_from_days (proleptic Gregorian, exact for any int64 day count).
 *
 * Decisions where DESIGN.md section 1 is silent:
 *  - Date-time: exactly "YYYY-MM-DD" + ('T' | 't' | one space) + "hh:mm:ss",
 *    then an optional '.' and 1 or more digits, then an optional offset
 *    'Z' | 'z' | +hh:mm | -hh:mm | +hhmm | -hhmm (none = UTC). No ISO basic
 *    form, no ',' decimal mark, no "+hh" alone, no surrounding whitespace.
 *    Years 0000..9999. "-00:00" is accepted and means UTC.
 *  - Second 60 (a leap second) is accepted at any hh:mm and counted as POSIX
 *    does (timegm): 23:59:60.250 is the same instant as 00:00:00.250 of the
 *    next day. That keeps the leap second ordered after all of second 59.
 *  - Epoch numbers: the digit count includes leading zeros. A leading '-' is
 *    allowed only in the seconds form (<= 11 digits): the ms/us/ns forms are
 *    recognised by their width, which only makes sense for present-day times.
 *    No '+', no exponent, no ".5" or "5.".
 *  - Sub-ms digits are dropped from the text ("truncated"): for a date-time
 *    that is the floor, for "-1.0009" it is -1000 ms (toward zero), because
 *    the text, not the real number, is what gets truncated.
 */
#include "record.h"

#include <stdint.h>

#define MS_PER_DAY INT64_C(86400000)

static int64_t ts_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;                                   /* [0, 399] */
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static void ts_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int ts_is_digit(char c)
{
    return (unsigned char)(c - '0') <= 9;
}

/* Two digits at s, or -1. */
static int ts_2d(const char *s)
{
    if (!ts_is_digit(s[0]) || !ts_is_digit(s[1]))
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int ts_days_in_month(int64_t y, int m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return mdays[m - 1];
}

/* Up to the first three fraction digits as ms; the rest are only checked to be
 * digits. Returns the index after the fraction, or 0 when there is none. */
static size_t ts_fraction(const char *s, size_t n, size_t i, int *frac)
{
    int v = 0, k = 0;
    size_t start = i;
    while (i < n && ts_is_digit(s[i])) {
        if (k < 3) {
            v = v * 10 + (s[i] - '0');
            k++;
        }
        i++;
    }
    if (i == start)
        return 0;
    for (; k < 3; k++)
        v *= 10;
    *frac = v;
    return i;
}

static int ts_parse_datetime(const char *s, size_t n, int64_t *ms)
{
    if (n < 19)
        return -1;
    for (int i = 0; i < 4; i++)
        if (!ts_is_digit(s[i]))
            return -1;
    if (s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    const int64_t year =
        (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    const int mon = ts_2d(s + 5), day = ts_2d(s + 8);
    const int hh = ts_2d(s + 11), mi = ts_2d(s + 14), ss = ts_2d(s + 17);
    if (mon < 1 || mon > 12 || day < 1 || day > ts_days_in_month(year, mon))
        return -1;
    if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60)
        return -1;

    size_t i = 19;
    int frac = 0;
    if (i < n && s[i] == '.') {
        i = ts_fraction(s, n, i + 1, &frac);
        if (i == 0)
            return -1;
    }

    int off_min = 0;
    if (i < n) {
        if (s[i] == 'Z' || s[i] == 'z') {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            const int sign = s[i] == '-' ? -1 : 1;
            int oh, om;
            if (n - i == 6 && s[i + 3] == ':') {
                oh = ts_2d(s + i + 1);
                om = ts_2d(s + i + 4);
            } else if (n - i == 5) {
                oh = ts_2d(s + i + 1);
                om = ts_2d(s + i + 3);
            } else {
                return -1;
            }
            if (oh < 0 || oh > 23 || om < 0 || om > 59)
                return -1;
            off_min = sign * (oh * 60 + om);
            i = n;
        } else {
            return -1;
        }
    }
    if (i != n)
        return -1;

    const int64_t days = ts_days_from_civil(year, mon, day);
    const int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - (int64_t)off_min * 60;
    *ms = secs * 1000 + frac;
    return 0;
}

static int ts_parse_epoch(const char *s, size_t n, int64_t *ms)
{
    size_t i = 0;
    const int neg = n > 0 && s[0] == '-';
    i += neg;
    const size_t start = i;
    uint64_t v = 0;
    /* 19 digits fit in uint64 (10^19 - 1 < 2^64); longer runs are invalid
     * anyway, so stop accumulating rather than overflow. */
    while (i < n && ts_is_digit(s[i])) {
        if (i - start < 19)
            v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    const size_t digits = i - start;
    if (digits == 0)
        return -1;

    if (digits <= 11) {
        int frac = 0;
        if (i < n) {
            if (s[i] != '.')
                return -1;
            i = ts_fraction(s, n, i + 1, &frac);
            if (i != n)
                return -1; /* no digits after '.', or junk after them */
        }
        const int64_t t = (int64_t)v * 1000 + frac;
        *ms = neg ? -t : t;
        return 0;
    }
    if (neg || i != n)
        return -1;
    switch (digits) {
    case 13:
        *ms = (int64_t)v;
        return 0;
    case 16:
        *ms = (int64_t)(v / 1000);
        return 0;
    case 19:
        *ms = (int64_t)(v / 1000000);
        return 0;
    default:
        return -1;
    }
}

int lb_ts_parse(const char *s, size_t n, int64_t *ms)
{
    if (s == NULL || n == 0)
        return -1;
    if (n >= 5 && s[4] == '-')
        return ts_parse_datetime(s, n, ms);
    return ts_parse_epoch(s, n, ms);
}

/* ---- formatting ------------------------------------------------------- */

static char *ts_put2(char *o, int v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* Years outside 0000..9999 (possible only for extreme ms values) use ISO 8601
 * expanded form: a sign and at least four digits. lb_ts_parse does not read
 * that form back; nothing in the contract produces such times. */
static char *ts_put_year(char *o, int64_t y)
{
    char buf[24];
    int k = 0;
    uint64_t u;
    if (y < 0) {
        *o++ = '-';
        u = (uint64_t)0 - (uint64_t)y;
    } else {
        if (y > 9999)
            *o++ = '+';
        u = (uint64_t)y;
    }
    do {
        buf[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (k < 4)
        buf[k++] = '0';
    while (k > 0)
        *o++ = buf[--k];
    return o;
}

size_t lb_ts_format_ms(int64_t ms, char *out)
{
    /* Floor division without overflow at INT64_MIN. */
    int64_t rem = ms % MS_PER_DAY;
    int64_t days = ms / MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days -= 1;
    }
    int64_t y;
    int m, d;
    ts_civil_from_days(days, &y, &m, &d);
    const int msec = (int)(rem % 1000);
    const int64_t sod = rem / 1000;

    char *o = ts_put_year(out, y);
    *o++ = '-';
    o = ts_put2(o, m);
    *o++ = '-';
    o = ts_put2(o, d);
    *o++ = 'T';
    o = ts_put2(o, (int)(sod / 3600));
    *o++ = ':';
    o = ts_put2(o, (int)(sod / 60 % 60));
    *o++ = ':';
    o = ts_put2(o, (int)(sod % 60));
    *o++ = '.';
    *o++ = (char)('0' + msec / 100);
    o = ts_put2(o, msec % 100);
    *o++ = 'Z';
    *o = '\0';
    return (size_t)(o - out);
}
