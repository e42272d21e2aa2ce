/*
 * parity_xml.c - see parity_xml.h. Recursive descent over the bytes; every
 * rule violated is reported with its byte offset.
 */
#include "parity_xml.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct px {
    const unsigned char *s;
    size_t n, i;
    char *why;
    size_t cap;
    int failed;
};

struct pbuf {
    char *p;
    size_t n, cap;
};

static int px_fail(struct px *x, const char *fmt, ...)
{
    if (!x->failed) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(x->why, x->cap, "at byte %zu: %s", x->i, msg);
        x->failed = 1;
    }
    return -1;
}

static void pb_add(struct pbuf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1)
            c *= 2;
        b->p = realloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static int px_is_xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Decode one UTF-8 character at x->i; 0 on error. */
static int px_char(struct px *x, uint32_t *cp, size_t *len)
{
    const unsigned char *p = x->s + x->i;
    size_t left = x->n - x->i;
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        *len = 1;
    } else {
        size_t l;
        uint32_t v;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            l = 2;
            v = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            l = 3;
            v = c & 0x0F;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            l = 4;
            v = c & 0x07;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return px_fail(x, "invalid UTF-8 byte 0x%02x", c), 0;
        }
        if (left < l || p[1] < lo || p[1] > hi)
            return px_fail(x, "invalid UTF-8 sequence"), 0;
        for (size_t k = 1; k < l; k++) {
            if (k > 1 && (p[k] & 0xC0) != 0x80)
                return px_fail(x, "invalid UTF-8 sequence"), 0;
            v = (v << 6) | (p[k] & 0x3F);
        }
        *cp = v;
        *len = l;
    }
    if (!px_is_xml_char(*cp))
        return px_fail(x, "character U+%04X is not allowed in XML", (unsigned)*cp), 0;
    return 1;
}

static void px_utf8(struct pbuf *b, uint32_t c)
{
    unsigned char o[4];
    size_t n;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (c >> 18));
        o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    pb_add(b, o, n);
}

static int px_starts(const struct px *x, const char *lit)
{
    size_t l = strlen(lit);
    return x->n - x->i >= l && memcmp(x->s + x->i, lit, l) == 0;
}

static void px_ws(struct px *x)
{
    while (x->i < x->n &&
           (x->s[x->i] == ' ' || x->s[x->i] == '\t' || x->s[x->i] == '\n' || x->s[x->i] == '\r'))
        x->i++;
}

static int px_name_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static int px_name_char(unsigned char c)
{
    return px_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static char *px_name(struct px *x)
{
    if (x->i >= x->n || !px_name_start(x->s[x->i]))
        return px_fail(x, "expected a name"), NULL;
    size_t b = x->i;
    while (x->i < x->n && px_name_char(x->s[x->i]))
        x->i++;
    char *nm = malloc(x->i - b + 1);
    memcpy(nm, x->s + b, x->i - b);
    nm[x->i - b] = '\0';
    return nm;
}

/* A reference after '&': appends its character(s) to b. */
static int px_ref(struct px *x, struct pbuf *b)
{
    x->i++; /* '&' */
    static const struct {
        const char *name, *val;
    } ents[] = {{"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"}};
    for (size_t k = 0; k < 5; k++)
        if (px_starts(x, ents[k].name)) {
            x->i += strlen(ents[k].name);
            pb_add(b, ents[k].val, 1);
            return 0;
        }
    if (x->i < x->n && x->s[x->i] == '#') {
        x->i++;
        int hex = x->i < x->n && x->s[x->i] == 'x';
        if (hex)
            x->i++;
        uint32_t v = 0;
        size_t digits = 0;
        while (x->i < x->n && x->s[x->i] != ';') {
            unsigned char c = x->s[x->i];
            unsigned d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (hex && c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                return px_fail(x, "bad character reference");
            v = v * (hex ? 16 : 10) + d;
            if (v > 0x10FFFF)
                return px_fail(x, "character reference out of range");
            digits++;
            x->i++;
        }
        if (x->i >= x->n || digits == 0)
            return px_fail(x, "unterminated character reference");
        x->i++;
        if (!px_is_xml_char(v))
            return px_fail(x, "reference to a character XML forbids (U+%04X)", (unsigned)v);
        px_utf8(b, v);
        return 0;
    }
    return px_fail(x, "'&' that is not a reference");
}

static int px_comment(struct px *x)
{
    x->i += 4; /* <!-- */
    for (;;) {
        if (x->i >= x->n)
            return px_fail(x, "unterminated comment");
        if (px_starts(x, "--")) {
            if (!px_starts(x, "-->"))
                return px_fail(x, "'--' inside a comment");
            x->i += 3;
            return 0;
        }
        uint32_t c;
        size_t l;
        if (!px_char(x, &c, &l))
            return -1;
        x->i += l;
    }
}

static int px_pi(struct px *x)
{
    x->i += 2; /* <? */
    char *t = px_name(x);
    if (t == NULL)
        return -1;
    free(t);
    for (;;) {
        if (x->i >= x->n)
            return px_fail(x, "unterminated processing instruction");
        if (px_starts(x, "?>")) {
            x->i += 2;
            return 0;
        }
        uint32_t c;
        size_t l;
        if (!px_char(x, &c, &l))
            return -1;
        x->i += l;
    }
}

static int px_misc(struct px *x)
{
    for (;;) {
        px_ws(x);
        if (px_starts(x, "<!--")) {
            if (px_comment(x) != 0)
                return -1;
        } else if (px_starts(x, "<?")) {
            if (px_pi(x) != 0)
                return -1;
        } else if (px_starts(x, "<!DOCTYPE")) {
            return px_fail(x, "a DTD is not expected here");
        } else {
            return 0;
        }
    }
}

static struct pxml_node *px_element(struct px *x, int depth);

static int px_attr_value(struct px *x, struct pbuf *b)
{
    if (x->i >= x->n || (x->s[x->i] != '"' && x->s[x->i] != '\''))
        return px_fail(x, "attribute value not quoted");
    unsigned char q = x->s[x->i++];
    pb_add(b, "", 0);
    for (;;) {
        if (x->i >= x->n)
            return px_fail(x, "unterminated attribute value");
        unsigned char c = x->s[x->i];
        if (c == q) {
            x->i++;
            return 0;
        }
        if (c == '<')
            return px_fail(x, "'<' in an attribute value");
        if (c == '&') {
            if (px_ref(x, b) != 0)
                return -1;
            continue;
        }
        uint32_t cp;
        size_t l;
        if (!px_char(x, &cp, &l))
            return -1;
        if (cp == '\t' || cp == '\n' || cp == '\r')
            pb_add(b, " ", 1); /* attribute-value normalisation */
        else
            pb_add(b, x->s + x->i, l);
        x->i += l;
    }
}

static int px_content(struct px *x, struct pxml_node *node, int depth)
{
    struct pbuf text = {0};
    pb_add(&text, "", 0);
    for (;;) {
        if (x->i >= x->n) {
            free(text.p);
            return px_fail(x, "unterminated element <%s>", node->name);
        }
        unsigned char c = x->s[x->i];
        if (c == '<') {
            if (px_starts(x, "</")) {
                x->i += 2;
                char *nm = px_name(x);
                if (nm == NULL) {
                    free(text.p);
                    return -1;
                }
                int same = strcmp(nm, node->name) == 0;
                free(nm);
                if (!same) {
                    free(text.p);
                    return px_fail(x, "end tag does not match <%s>", node->name);
                }
                px_ws(x);
                if (x->i >= x->n || x->s[x->i] != '>') {
                    free(text.p);
                    return px_fail(x, "expected '>' closing the end tag");
                }
                x->i++;
                node->text = text.p;
                node->text_len = text.n;
                return 0;
            }
            int rc = 0;
            if (px_starts(x, "<!--")) {
                rc = px_comment(x);
            } else if (px_starts(x, "<![CDATA[")) {
                x->i += 9;
                for (;;) {
                    if (x->i >= x->n) {
                        rc = px_fail(x, "unterminated CDATA section");
                        break;
                    }
                    if (px_starts(x, "]]>")) {
                        x->i += 3;
                        break;
                    }
                    uint32_t cp;
                    size_t l;
                    if (!px_char(x, &cp, &l)) {
                        rc = -1;
                        break;
                    }
                    pb_add(&text, x->s + x->i, l);
                    x->i += l;
                }
            } else if (px_starts(x, "<?")) {
                rc = px_pi(x);
            } else {
                struct pxml_node *kid = px_element(x, depth + 1);
                if (kid == NULL) {
                    rc = -1;
                } else {
                    node->kids = realloc(node->kids, (node->nkids + 1) * sizeof(*node->kids));
                    node->kids[node->nkids++] = kid;
                }
            }
            if (rc != 0) {
                free(text.p);
                return -1;
            }
            continue;
        }
        if (c == '&') {
            if (px_ref(x, &text) != 0) {
                free(text.p);
                return -1;
            }
            continue;
        }
        if (px_starts(x, "]]>")) {
            free(text.p);
            return px_fail(x, "']]>' in character data");
        }
        uint32_t cp;
        size_t l;
        if (!px_char(x, &cp, &l)) {
            free(text.p);
            return -1;
        }
        pb_add(&text, x->s + x->i, l);
        x->i += l;
    }
}

static struct pxml_node *px_element(struct px *x, int depth)
{
    if (depth > 256)
        return px_fail(x, "nested too deeply"), NULL;
    if (x->i >= x->n || x->s[x->i] != '<')
        return px_fail(x, "expected an element"), NULL;
    x->i++;
    struct pxml_node *node = calloc(1, sizeof(*node));
    node->name = px_name(x);
    if (node->name == NULL) {
        pxml_free(node);
        return NULL;
    }
    for (;;) {
        size_t before = x->i;
        px_ws(x);
        if (px_starts(x, "/>")) {
            x->i += 2;
            node->text = calloc(1, 1);
            return node;
        }
        if (x->i < x->n && x->s[x->i] == '>') {
            x->i++;
            if (px_content(x, node, depth) != 0) {
                pxml_free(node);
                return NULL;
            }
            return node;
        }
        if (x->i == before) {
            pxml_free(node);
            return px_fail(x, "expected whitespace, '>' or '/>' in a tag"), NULL;
        }
        char *an = px_name(x);
        if (an == NULL) {
            pxml_free(node);
            return NULL;
        }
        for (size_t k = 0; k < node->nattr; k++)
            if (strcmp(node->attr_names[k], an) == 0) {
                free(an);
                pxml_free(node);
                return px_fail(x, "attribute given twice"), NULL;
            }
        px_ws(x);
        if (x->i >= x->n || x->s[x->i] != '=') {
            free(an);
            pxml_free(node);
            return px_fail(x, "expected '=' after an attribute name"), NULL;
        }
        x->i++;
        px_ws(x);
        struct pbuf v = {0};
        if (px_attr_value(x, &v) != 0) {
            free(an);
            free(v.p);
            pxml_free(node);
            return NULL;
        }
        node->attr_names = realloc(node->attr_names, (node->nattr + 1) * sizeof(char *));
        node->attr_values = realloc(node->attr_values, (node->nattr + 1) * sizeof(char *));
        node->attr_names[node->nattr] = an;
        node->attr_values[node->nattr] = v.p;
        node->nattr++;
    }
}

struct pxml_node *pxml_parse(const char *s, size_t n, char *why, size_t cap)
{
    struct px x = {(const unsigned char *)s, n, 0, why, cap, 0};
    if (why != NULL && cap > 0)
        why[0] = '\0';
    if (px_starts(&x, "<?xml")) {
        if (px_pi(&x) != 0)
            return NULL;
    }
    if (px_misc(&x) != 0)
        return NULL;
    struct pxml_node *root = px_element(&x, 0);
    if (root == NULL)
        return NULL;
    if (px_misc(&x) != 0 || x.i != x.n) {
        if (!x.failed)
            px_fail(&x, "content after the root element");
        pxml_free(root);
        return NULL;
    }
    return root;
}

void pxml_free(struct pxml_node *node)
{
    if (node == NULL)
        return;
    free(node->name);
    for (size_t k = 0; k < node->nattr; k++) {
        free(node->attr_names[k]);
        free(node->attr_values[k]);
    }
    free(node->attr_names);
    free(node->attr_values);
    for (size_t k = 0; k < node->nkids; k++)
        pxml_free(node->kids[k]);
    free(node->kids);
    free(node->text);
    free(node);
}

const char *pxml_attr(const struct pxml_node *node, const char *name)
{
    for (size_t k = 0; k < node->nattr; k++)
        if (strcmp(node->attr_names[k], name) == 0)
            return node->attr_values[k];
    return NULL;
}

size_t pxml_count(const struct pxml_node *node, const char *name)
{
    size_t c = 0;
    for (size_t k = 0; k < node->nkids; k++)
        c += strcmp(node->kids[k]->name, name) == 0;
    return c;
}

const struct pxml_node *pxml_child(const struct pxml_node *node, const char *name, size_t i)
{
    for (size_t k = 0; k < node->nkids; k++)
        if (strcmp(node->kids[k]->name, name) == 0 && i-- == 0)
            return node->kids[k];
    return NULL;
}
