/*
 * parity_xml.h - a small, strict XML 1.0 reader for the tests of parity's
 * JUnit report (libxml2 is not a dependency).
 *
 * It checks well-formedness (one root; tags nested and matched; attributes
 * quoted and unique; no raw '<' or stray '&'; only the five predefined
 * entities and character references to XML characters; UTF-8 valid; no
 * control characters XML forbids; comments, PIs and the XML declaration
 * accepted; no DTD) and builds a tiny tree so that tests can look at
 * elements and decoded attribute values.
 */
#ifndef PARITY_XML_H
#define PARITY_XML_H

#include <stddef.h>

struct pxml_node {
    char *name;
    char **attr_names, **attr_values; /* decoded */
    size_t nattr;
    struct pxml_node **kids;
    size_t nkids;
    char *text; /* decoded character data directly inside this element */
    size_t text_len;
};

/* Parse s[0..n). Returns the root, or NULL with a reason in why (cap bytes). */
struct pxml_node *pxml_parse(const char *s, size_t n, char *why, size_t cap);
void pxml_free(struct pxml_node *node);

/* The value of attribute name, or NULL. */
const char *pxml_attr(const struct pxml_node *node, const char *name);
/* Children named name: count, and the i-th one (NULL past the end). */
size_t pxml_count(const struct pxml_node *node, const char *name);
const struct pxml_node *pxml_child(const struct pxml_node *node, const char *name, size_t i);

#endif
