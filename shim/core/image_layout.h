/* image_layout.h — the compiled rules image: one flat, position-independent
 * block of bytes holding everything a process needs to match destinations
 * and run breakers, so that it maps the block read-only instead of parsing
 * JSON. Owns the format only: the header, the sections and their records.
 *
 * Sections are arrays of fixed-size records at 8-byte aligned offsets from
 * the start; strings are offsets into one NUL-separated string section. An
 * image is compiled and read by the same build on the same machine (the
 * version string and a digest of the record sizes are in the header), so
 * records are in native byte order and alignment. Any change to a record
 * needs IMAGE_FORMAT_VERSION raised; tests/unit/test_image.c pins it. */
#ifndef FUSEBOX_IMAGE_LAYOUT_H
#define FUSEBOX_IMAGE_LAYOUT_H

#include <stdint.h>

#include "breaker.h"
#include "fallback.h"

#define IMAGE_MAGIC "FBXRULES" /* 8 bytes, no NUL */
#define IMAGE_FORMAT_VERSION 2u
#define IMAGE_BUILD_SIZE 32           /* FUSEBOX_VERSION, NUL-padded */
#define IMAGE_MAX_BREAKERS (1u << 24) /* a breaker index fits 24 bits */

/* What the image was compiled from. A file source is known by what stat
 * says of it; inline JSON by a hash of its text (dev, ino 0). Two sources
 * are the same when every field is. */
struct image_source {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint64_t text_hash;
};

/* The patterns of one key, best first: order[first .. first + count). */
struct image_group {
    uint32_t first, count;
};

/* A slot of a name table; group.count == 0 marks an empty slot. */
struct image_name_slot {
    uint32_t name; /* offset in the strings: the name in normal form */
    uint32_t hash, len;
    struct image_group group;
};

/* A network: the address in the top bits of hi:lo (IPv4 in the top 32 bits
 * of hi), every bit past prefix_len clear. */
struct image_network {
    uint64_t hi, lo;
    uint8_t family, prefix_len;
};

struct image_address_slot {
    struct image_network net;
    struct image_group group;
};

/* A hash table of 2^k slots (0 slots: empty), open addressing with linear
 * probing, at most half full; a key's first slot is the top `shift` bits
 * of its digest times a constant. */
struct image_table {
    uint64_t offset; /* of slot 0 */
    uint32_t slots, used;
    uint32_t shift;
    uint32_t reserved;
};

/* What a lookup needs of a host pattern. */
struct image_pattern {
    uint32_t breaker; /* index into the breakers */
    uint16_t port;    /* 0: any port */
    uint16_t reserved;
};

/* One breaker of the rules. */
struct image_breaker {
    struct breaker_config config;
    uint64_t name_hash; /* state_name_hash of its name */
    uint32_t name;      /* offset in the strings */
    uint32_t max_hosts; /* per_host: at most this many hosts */
    uint32_t fallback;  /* index of its first fallback address */
    uint32_t fallback_count;
    uint8_t protocol; /* enum rule_protocol */
    uint8_t per_host;
    uint8_t reserved[6];
};

/* An array of count records of one kind. */
struct image_section {
    uint64_t offset;
    uint32_t count;
    uint32_t reserved;
};

struct image_header {
    char magic[8];
    uint32_t format_version;
    uint32_t record_digest; /* image_record_digest() of the compiling build */
    char build[IMAGE_BUILD_SIZE];
    uint64_t size; /* of the whole image, header included */
    uint64_t compiled_wall_ms;
    struct image_source source;
    struct image_section breakers, patterns, order, fallbacks, strings; /* strings: bytes */
    struct image_table exact, wildcard, addresses;
    struct image_group any;
    uint8_t v4_prefix_count, v6_prefix_count;
    uint8_t v4_prefixes[33], v6_prefixes[129]; /* distinct prefix lengths, longest first */
    uint8_t reserved[4];
    /* Bit b (byte b / 8, bit b % 8): some ADDRESS pattern of the family
     * covers addresses whose first byte is b. An address outside the set
     * matches no ADDRESS pattern: its lookup ends at the first byte. */
    uint8_t v4_first[32], v6_first[32];
};

/* A digest of the sizes of every record, so that a build whose records
 * differ never reads another's image. */
static inline uint32_t image_record_digest(void)
{
    return (uint32_t)(sizeof(struct image_header) * 31u + sizeof(struct image_breaker) * 7u +
                      sizeof(struct image_pattern) * 5u + sizeof(struct image_name_slot) * 3u +
                      sizeof(struct image_address_slot) * 11u +
                      sizeof(struct fallback_address) * 13u);
}

#endif
