//! The global allocator of musl builds: the system's, with freed small blocks kept for reuse.
//!
//! A page of conversations is thousands of small blocks (the views' vectors and boxes, the
//! cells of rows) allocated by a worker and freed by the driver a moment later, page after
//! page. musl's allocator, which the release builds link, gives the memory of such blocks
//! back to the system as soon as a group of them is free and maps it again for the next
//! page: on the 20 000-conversation week that was 13 900 `mmap`/`munmap` pairs and 52 000
//! page faults, as much system time as the whole parse. Here a freed block of at most
//! `SMALL` bytes goes onto a list of its size class (16 bytes apart) and serves the next
//! request of that class; at most `KEPT_BYTES` are kept in all, the rest go back to the
//! system. Larger blocks, and blocks aligned to more than 16 bytes, are the system's alone.
//! glibc keeps freed blocks itself (per-thread caches, then its bins), faster than a lock
//! here would: its builds use it as it is.
//!
//! Every block of class `c` is allocated from the system as `(c + 1) × 16` bytes aligned to
//! 16, whatever size was asked in the class, and goes back to it with that same layout; a
//! freed block holds the next one of its list in its first bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::{Mutex, PoisonError};

/// The largest block kept for reuse.
const SMALL: usize = 1024;
/// The distance between size classes, and their alignment.
const GRAIN: usize = 16;
const CLASSES: usize = SMALL / GRAIN;
/// The most bytes kept for reuse, over all classes.
const KEPT_BYTES: usize = 4 * 1024 * 1024;

/// The free blocks of each class, as linked lists threaded through the blocks themselves.
struct Lists {
    heads: [*mut u8; CLASSES],
    kept: usize,
}

// SAFETY: the pointers are blocks no one else holds; they are only touched under the lock.
unsafe impl Send for Lists {}

pub struct Recycling {
    lists: Mutex<Lists>,
}

impl Recycling {
    pub const fn new() -> Recycling {
        Recycling {
            lists: Mutex::new(Lists {
                heads: [std::ptr::null_mut(); CLASSES],
                kept: 0,
            }),
        }
    }
}

/// The class of a layout this allocator keeps blocks of, with the layout its blocks have.
fn class(layout: Layout) -> Option<(usize, Layout)> {
    if layout.size() == 0 || layout.size() > SMALL || layout.align() > GRAIN {
        return None;
    }
    let class = (layout.size() - 1) / GRAIN;
    let block = Layout::from_size_align((class + 1) * GRAIN, GRAIN).ok()?;
    Some((class, block))
}

// SAFETY: every block handed out is either the system's for the asked layout, or a block of
// the asked layout's class: at least as large, aligned to 16, taken off a list it was put on
// by `dealloc` when its owner freed it (so no one else holds it). `dealloc` and `realloc` see
// the layout the block was asked with, so its class is the one it was allocated in.
unsafe impl GlobalAlloc for Recycling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((class, block)) = class(layout) else {
            return System.alloc(layout);
        };
        {
            let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            let Lists { heads, kept } = &mut *lists;
            if let Some(head) = heads.get_mut(class).filter(|head| !head.is_null()) {
                let block_ptr = *head;
                *head = block_ptr.cast::<*mut u8>().read();
                *kept = kept.saturating_sub(block.size());
                return block_ptr;
            }
        }
        System.alloc(block)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((class, block)) = class(layout) else {
            return System.dealloc(ptr, layout);
        };
        {
            let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            let Lists { heads, kept } = &mut *lists;
            let room = kept.saturating_add(block.size()) <= KEPT_BYTES;
            if let Some(head) = heads.get_mut(class).filter(|_| room) {
                ptr.cast::<*mut u8>().write(*head);
                *head = ptr;
                *kept = kept.saturating_add(block.size());
                return;
            }
        }
        System.dealloc(ptr, block)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class(layout), class(new_layout)) {
            // Neither is kept here: the system's own, which may grow in place.
            (None, None) => System.realloc(ptr, layout, new_size),
            // The same class: the block already has room.
            (Some((old, _)), Some((new, _))) if old == new => ptr,
            _ => {
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_class_holds_every_size_it_serves() {
        for size in 1..=SMALL {
            let (class, block) = class(Layout::from_size_align(size, 1).unwrap()).unwrap();
            assert!(block.size() >= size && block.size() < size + GRAIN);
            assert_eq!(block.size(), (class + 1) * GRAIN);
            assert_eq!(block.align(), GRAIN);
        }
        assert!(class(Layout::from_size_align(SMALL + 1, 1).unwrap()).is_none());
        assert!(class(Layout::from_size_align(8, 32).unwrap()).is_none());
    }

    /// A block of the allocator: where it is, its layout, and the byte it was filled with.
    struct Held(*mut u8, Layout, u8);

    // SAFETY: a `Held` block is owned by the thread holding it.
    unsafe impl Send for Held {}

    impl Held {
        fn intact(&self) -> bool {
            // SAFETY: the block is live, of `self.1.size()` bytes, all written.
            let bytes = unsafe { std::slice::from_raw_parts(self.0, self.1.size()) };
            bytes.iter().all(|b| *b == self.2)
        }
    }

    /// Threads allocate, fill, grow, shrink and free blocks of every size and alignment
    /// through one allocator, handing some to another thread to free (as the workers hand
    /// pages to the driver); every block keeps what was written in it until it is freed,
    /// whatever was in it before, and zeroed blocks are zero.
    #[test]
    fn blocks_keep_their_bytes_across_threads_and_reuse() {
        static RECYCLING: Recycling = Recycling::new();
        let (hand, handed) = std::sync::mpsc::channel::<Held>();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let hand = hand.clone();
                std::thread::spawn(move || {
                    let mut held: Vec<Held> = Vec::new();
                    for round in 0..20_000usize {
                        let fill = t.wrapping_mul(31).wrapping_add(round as u8) | 1;
                        let size = (round * 7919 + usize::from(t) * 13) % 1500 + 1;
                        let align = [1, 8, 16, 64][round % 4];
                        let layout = Layout::from_size_align(size, align).unwrap();
                        // SAFETY: a non-zero size; every block is freed with its layout.
                        unsafe {
                            let ptr = if round % 7 == 0 {
                                let zeroed = RECYCLING.alloc_zeroed(layout);
                                let bytes = std::slice::from_raw_parts(zeroed, size);
                                assert!(bytes.iter().all(|b| *b == 0));
                                zeroed
                            } else {
                                RECYCLING.alloc(layout)
                            };
                            assert!(!ptr.is_null() && (ptr as usize).is_multiple_of(align));
                            ptr.write_bytes(fill, size);
                            let mut block = Held(ptr, layout, fill);
                            if round % 3 == 0 {
                                let new_size = (size * 3 + round % 40) % 1800 + 1;
                                let moved = RECYCLING.realloc(block.0, layout, new_size);
                                assert!(!moved.is_null());
                                let kept = size.min(new_size);
                                let bytes = std::slice::from_raw_parts(moved, kept);
                                assert!(bytes.iter().all(|b| *b == fill));
                                moved.write_bytes(fill, new_size);
                                let grown = Layout::from_size_align(new_size, align).unwrap();
                                block = Held(moved, grown, fill);
                            }
                            held.push(block);
                        }
                        if held.len() > 64 {
                            let gone = held.swap_remove(round % held.len());
                            assert!(gone.intact());
                            if round % 2 == 0 {
                                hand.send(gone).unwrap();
                            } else {
                                // SAFETY: allocated above with this layout, freed once.
                                unsafe { RECYCLING.dealloc(gone.0, gone.1) };
                            }
                        }
                    }
                    for block in held {
                        assert!(block.intact());
                        // SAFETY: as above.
                        unsafe { RECYCLING.dealloc(block.0, block.1) };
                    }
                })
            })
            .collect();
        drop(hand);
        for block in handed {
            assert!(block.intact());
            // SAFETY: handed over by the thread that allocated it, freed once, here.
            unsafe { RECYCLING.dealloc(block.0, block.1) };
        }
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
