//! Windows' counterparts of the Unix calls the shell makes, declared from the system's own
//! DLLs (`extern "system"`, no crate): the console control handler that stands for SIGINT and
//! SIGTERM, the reparse-point flag and attribute that stand for `O_NOFOLLOW` and a symbolic
//! link, the owner-only DACL that stands for mode 0600, and a file's identity (volume serial
//! and file index) that stands for device and inode. It opens, writes and removes no file:
//! state.rs and target.rs do, and call these on what they opened.

use std::ffi::c_void;
use std::fs::{File, Metadata};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::MetadataExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

/// `CreateFile` opens a reparse point (symbolic link, junction) itself instead of its target.
pub const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// The access rights to read and change a file's DACL (`READ_CONTROL | WRITE_DAC`), which
/// `SetSecurityInfo` needs.
pub const READ_AND_WRITE_DAC: u32 = 0x0002_0000 | 0x0004_0000;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x0400;

/// The console control events (`HandlerRoutine`'s argument).
pub const CTRL_C_EVENT: u32 = 0;
pub const CTRL_BREAK_EVENT: u32 = 1;
pub const CTRL_LOGOFF_EVENT: u32 = 5;

const SE_FILE_OBJECT: u32 = 1;
const DACL_SECURITY_INFORMATION: u32 = 0x0000_0004;
const PROTECTED_DACL_SECURITY_INFORMATION: u32 = 0x8000_0000;
const SDDL_REVISION_1: u32 = 1;
const TOKEN_QUERY: u32 = 0x0008;
/// `TokenUser`, the `TOKEN_INFORMATION_CLASS` whose answer starts with the user's SID.
const TOKEN_USER: u32 = 1;

/// A protected DACL (nothing inherited from the folder) with one entry: full access for the
/// account `sid` (in SDDL's `S-1-5-…` form). Nobody else may open the file.
fn owner_only(sid: &str) -> String {
    format!("D:P(A;;FA;;;{sid})")
}

/// `BY_HANDLE_FILE_INFORMATION`.
#[repr(C)]
#[derive(Default)]
struct FileInformation {
    attributes: u32,
    times: [u32; 6],
    volume_serial: u32,
    size_high: u32,
    size_low: u32,
    links: u32,
    index_high: u32,
    index_low: u32,
}

/// `OVERLAPPED`, here only to say where a lock starts.
#[repr(C)]
struct Overlapped {
    internal: usize,
    internal_high: usize,
    offset: u32,
    offset_high: u32,
    event: *mut c_void,
}

const LOCKFILE_FAIL_IMMEDIATELY: u32 = 0x1;
const LOCKFILE_EXCLUSIVE_LOCK: u32 = 0x2;
const ERROR_LOCK_VIOLATION: i32 = 33;

pub type CtrlHandler = unsafe extern "system" fn(event: u32) -> i32;

#[link(name = "kernel32")]
extern "system" {
    fn SetConsoleCtrlHandler(handler: Option<CtrlHandler>, add: i32) -> i32;
    fn GetFileInformationByHandle(file: *mut c_void, info: *mut FileInformation) -> i32;
    fn GetFileAttributesW(path: *const u16) -> u32;
    fn LocalFree(mem: *mut c_void) -> *mut c_void;
    fn GetCurrentProcess() -> *mut c_void;
    fn CloseHandle(handle: *mut c_void) -> i32;
    fn LockFileEx(
        file: *mut c_void,
        flags: u32,
        reserved: u32,
        low: u32,
        high: u32,
        overlapped: *mut Overlapped,
    ) -> i32;
}

#[link(name = "advapi32")]
extern "system" {
    fn ConvertStringSecurityDescriptorToSecurityDescriptorW(
        sddl: *const u16,
        revision: u32,
        descriptor: *mut *mut c_void,
        size: *mut u32,
    ) -> i32;
    fn OpenProcessToken(process: *mut c_void, access: u32, token: *mut *mut c_void) -> i32;
    fn GetTokenInformation(
        token: *mut c_void,
        class: u32,
        info: *mut c_void,
        len: u32,
        returned: *mut u32,
    ) -> i32;
    fn ConvertSidToStringSidW(sid: *mut c_void, text: *mut *mut u16) -> i32;
    fn GetSecurityDescriptorDacl(
        descriptor: *mut c_void,
        present: *mut i32,
        dacl: *mut *mut c_void,
        defaulted: *mut i32,
    ) -> i32;
    fn SetSecurityInfo(
        handle: *mut c_void,
        object: u32,
        info: u32,
        owner: *mut c_void,
        group: *mut c_void,
        dacl: *mut c_void,
        sacl: *mut c_void,
    ) -> u32;
}

/// Adds `handler` to the process's console control handlers.
pub fn add_ctrl_handler(handler: CtrlHandler) -> io::Result<()> {
    // SAFETY: `handler` is a function that lives for the whole program.
    match unsafe { SetConsoleCtrlHandler(Some(handler), 1) } {
        0 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// Takes an exclusive lock on `file` without waiting, or says it is held. The lock covers one
/// byte far past any data (std's `try_lock` covers the whole file, which Windows then refuses
/// to let any other process read): a second run can still read the holder's process id.
pub fn try_lock(file: &File) -> Result<(), std::fs::TryLockError> {
    let mut at = Overlapped {
        internal: 0,
        internal_high: 0,
        offset: u32::MAX,
        offset_high: i32::MAX as u32,
        event: std::ptr::null_mut(),
    };
    // SAFETY: a valid synchronous handle owned by `file`; with FAIL_IMMEDIATELY the call
    // returns before `at` goes out of scope.
    let locked = unsafe {
        LockFileEx(
            file.as_raw_handle(),
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            1,
            0,
            &mut at,
        )
    };
    match locked {
        0 => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(ERROR_LOCK_VIOLATION) => {
                Err(std::fs::TryLockError::WouldBlock)
            }
            e => Err(std::fs::TryLockError::Error(e)),
        },
        _ => Ok(()),
    }
}

/// Whether `meta` (from `symlink_metadata`, or of a file opened with
/// `FILE_FLAG_OPEN_REPARSE_POINT`) is a reparse point: a symbolic link, a junction or any
/// other entry the system would redirect.
pub fn is_reparse_point(meta: &Metadata) -> bool {
    meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
}

/// Whether the entry at `path` itself is a reparse point, as a query by name reports it:
/// `GetFileAttributesW` describes a symbolic link or a junction, never what it points to. A
/// missing entry is none. File systems that show a link only to a query by name (wine shows a
/// Unix symbolic link to a directory, or a mount point, so) are covered too.
pub fn names_reparse_point(path: &Path) -> bool {
    const INVALID_FILE_ATTRIBUTES: u32 = u32::MAX;
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
    // SAFETY: a NUL-terminated UTF-16 path.
    match unsafe { GetFileAttributesW(wide.as_ptr()) } {
        INVALID_FILE_ATTRIBUTES => false,
        attributes => attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0,
    }
}

/// The identity of an open file: its volume's serial number and its file index.
pub fn identity(file: &File) -> io::Result<(u32, u64)> {
    let mut info = FileInformation::default();
    // SAFETY: a valid handle, owned by `file`, and a buffer of the documented layout.
    match unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } {
        0 => Err(io::Error::last_os_error()),
        _ => Ok((
            info.volume_serial,
            u64::from(info.index_high) << 32 | u64::from(info.index_low),
        )),
    }
}

/// The SID of the account this process runs as, in SDDL's `S-1-5-…` form.
fn process_user() -> io::Result<String> {
    let mut token = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process and an out-pointer; the token is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // A `TOKEN_USER` (a SID pointer and attributes) followed by the SID it points to; u64s
    // keep the buffer aligned for the pointer.
    let mut buf = [0u64; 64];
    let mut len = 0;
    let size = std::mem::size_of_val(&buf) as u32;
    // SAFETY: a buffer of `size` bytes; on success it starts with the SID pointer, which
    // points into the buffer; the text the conversion allocates is freed with `LocalFree`.
    unsafe {
        let got = GetTokenInformation(token, TOKEN_USER, buf.as_mut_ptr().cast(), size, &mut len);
        let error = io::Error::last_os_error();
        CloseHandle(token);
        if got == 0 {
            return Err(error);
        }
        let sid = *buf.as_ptr().cast::<*mut c_void>();
        let mut text = std::ptr::null_mut();
        if ConvertSidToStringSidW(sid, &mut text) == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut end = 0;
        while *text.add(end) != 0 {
            end += 1;
        }
        let sid = String::from_utf16_lossy(std::slice::from_raw_parts(text, end));
        LocalFree(text.cast());
        Ok(sid)
    }
}

/// Gives `file` (opened with `READ_AND_WRITE_DAC`) a protected DACL that lets its owner only in: the
/// Windows form of mode 0600.
pub fn make_private(file: &File) -> io::Result<()> {
    let sddl: Vec<u16> = owner_only(&process_user()?)
        .encode_utf16()
        .chain([0])
        .collect();
    let mut descriptor = std::ptr::null_mut();
    // SAFETY: a NUL-terminated UTF-16 string and an out-pointer; the descriptor the call
    // allocates is freed below with `LocalFree`, as its documentation requires.
    let made = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if made == 0 {
        return Err(io::Error::last_os_error());
    }
    let (mut present, mut defaulted, mut dacl) = (0, 0, std::ptr::null_mut());
    // SAFETY: `descriptor` is the valid descriptor made above; `dacl` points into it and is
    // used before it is freed. `file`'s handle is valid for the call.
    let result = unsafe {
        if GetSecurityDescriptorDacl(descriptor, &mut present, &mut dacl, &mut defaulted) == 0 {
            Err(io::Error::last_os_error())
        } else {
            match SetSecurityInfo(
                file.as_raw_handle(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                dacl,
                std::ptr::null_mut(),
            ) {
                0 => Ok(()),
                code => Err(io::Error::from_raw_os_error(code as i32)),
            }
        }
    };
    // SAFETY: allocated by the conversion above, freed once.
    unsafe { LocalFree(descriptor) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{open_private, unlink};
    use std::fs::{self, OpenOptions};
    use std::path::PathBuf;

    #[link(name = "advapi32")]
    extern "system" {
        fn GetSecurityInfo(
            handle: *mut c_void,
            object: u32,
            info: u32,
            owner: *mut *mut c_void,
            group: *mut *mut c_void,
            dacl: *mut *mut c_void,
            sacl: *mut *mut c_void,
            descriptor: *mut *mut c_void,
        ) -> u32;
        fn ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor: *mut c_void,
            revision: u32,
            info: u32,
            sddl: *mut *mut u16,
            size: *mut u32,
        ) -> i32;
    }

    /// The DACL of the file at `path`, in SDDL.
    fn dacl_of(path: &Path) -> String {
        use std::os::windows::fs::OpenOptionsExt;
        const READ_CONTROL: u32 = 0x0002_0000;
        let file = OpenOptions::new()
            .access_mode(READ_CONTROL)
            .open(path)
            .unwrap();
        let (mut descriptor, mut sddl, mut len) = (std::ptr::null_mut(), std::ptr::null_mut(), 0);
        let null = std::ptr::null_mut;
        // SAFETY: a valid handle and out-pointers; both allocations are freed below.
        unsafe {
            let info = DACL_SECURITY_INFORMATION;
            let got = GetSecurityInfo(
                file.as_raw_handle(),
                SE_FILE_OBJECT,
                info,
                null(),
                null(),
                null(),
                null(),
                &mut descriptor,
            );
            assert_eq!(got, 0, "GetSecurityInfo");
            let made = ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor,
                SDDL_REVISION_1,
                info,
                &mut sddl,
                &mut len,
            );
            assert_ne!(made, 0, "{}", io::Error::last_os_error());
            let text = String::from_utf16_lossy(std::slice::from_raw_parts(sddl, len as usize));
            LocalFree(sddl.cast());
            LocalFree(descriptor);
            text.trim_end_matches('\0').to_string()
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ge-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_private_file_lets_its_owner_alone_in() {
        let dir = scratch("acl");
        let path = dir.join("c.csv.partial");
        fs::write(&path, "stale").unwrap();
        let inherited = dacl_of(&path);
        let file = open_private(&path, OpenOptions::new().write(true)).unwrap();
        drop(file);
        let only = owner_only(&process_user().unwrap());
        assert_ne!(inherited, only);
        assert_eq!(dacl_of(&path), only, "before: {inherited}");
        let fresh = dir.join("c.csv.state");
        drop(open_private(&fresh, OpenOptions::new().write(true).create_new(true)).unwrap());
        assert_eq!(dacl_of(&fresh), only);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reparse_point_is_refused_and_removed_never_followed() {
        use std::os::windows::fs::{symlink_dir, symlink_file};
        let dir = scratch("reparse");
        let victim = dir.join("victim");
        fs::write(&victim, "precious data\n").unwrap();
        let victim_dir = dir.join("victim-dir");
        fs::create_dir(&victim_dir).unwrap();
        fs::write(victim_dir.join("keep"), "kept\n").unwrap();
        let file_link = dir.join("c.csv.partial");
        symlink_file(&victim, &file_link).unwrap();
        let dir_link = dir.join("c.csv.state");
        symlink_dir(&victim_dir, &dir_link).unwrap();
        for link in [&file_link, &dir_link] {
            assert!(crate::disk::is_link(&fs::symlink_metadata(link).unwrap()));
            for options in [
                OpenOptions::new().write(true),
                OpenOptions::new().read(true).write(true).create(true),
                OpenOptions::new().write(true).create_new(true),
            ] {
                let err = open_private(link, options).unwrap_err();
                assert!(!err.to_string().is_empty());
            }
            unlink(link).unwrap();
            assert!(fs::symlink_metadata(link).is_err(), "{}", link.display());
            drop(open_private(link, OpenOptions::new().write(true).create_new(true)).unwrap());
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious data\n");
        assert_eq!(
            fs::read_to_string(victim_dir.join("keep")).unwrap(),
            "kept\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_is_exclusive_and_leaves_the_file_readable() {
        let dir = scratch("lock");
        let path = dir.join("c.csv.lock");
        fs::write(&path, "1234\n").unwrap();
        let first = File::options().read(true).write(true).open(&path).unwrap();
        try_lock(&first).unwrap();
        let second = File::options().read(true).write(true).open(&path).unwrap();
        assert!(matches!(
            try_lock(&second),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "1234\n");
        drop(first);
        try_lock(&second).unwrap();
        drop(second);
        fs::remove_dir_all(&dir).unwrap();
    }
}
