#ifndef CMONGOC_SHIM_H
#define CMONGOC_SHIM_H

#include <mongoc/mongoc.h>
#include <bson/bson.h>
#include <stddef.h>

/* bson_t and bson_iter_t are declared 128-byte aligned, so Swift imports pointers to them as
   OpaquePointer and cannot lay them out itself. The Swift wrapper allocates their storage with
   the size and alignment the C compiler uses, read through these two functions. */

static inline size_t CMongoC_bsonSize(void) { return sizeof(bson_t); }
static inline size_t CMongoC_bsonAlignment(void) { return _Alignof(bson_t); }
static inline size_t CMongoC_iterSize(void) { return sizeof(bson_iter_t); }
static inline size_t CMongoC_iterAlignment(void) { return _Alignof(bson_iter_t); }

#endif
