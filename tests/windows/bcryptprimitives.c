/* For wine only, never shipped: wine 8 lacks bcryptprimitives.dll, whose ProcessPrng every
 * Rust program for Windows 10 and later imports (std's random seed). Built from this source by
 * tests/release.sh and put in the test prefix's system32; it fills the buffer from
 * RtlGenRandom (advapi32's SystemFunction036), as Windows' own ProcessPrng draws from the
 * system's generator. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
