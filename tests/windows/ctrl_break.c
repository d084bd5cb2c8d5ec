/* For the release checks only, never shipped: `ctrl_break PID` delivers Ctrl-Break to the
 * Windows process PID the way the console does. On Ctrl-Break the console host has the system
 * start a thread in each process attached to it at kernelbase's CtrlRoutine, with
 * CTRL_BREAK_EVENT as its argument; CtrlRoutine runs the handlers the process registered with
 * SetConsoleCtrlHandler. This starts that same thread with CreateRemoteThread (kernelbase is
 * mapped at one address in every process of a session). Wine 8 has no other way to send
 * Ctrl-Break: its server answers GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT) with
 * STATUS_NOT_IMPLEMENTED (server/console.c, propagate_console_signal), and SIGINT becomes
 * CTRL_C_EVENT only. Exit code 0 once the handlers ran, 1 on a failure (named on stderr). */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long pid = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
    if (pid == 0 || *end != '\0') {
        fprintf(stderr, "usage: ctrl_break PID\n");
        return 1;
    }
    HMODULE kernelbase = GetModuleHandleA("kernelbase.dll");
    FARPROC routine = kernelbase ? GetProcAddress(kernelbase, "CtrlRoutine") : NULL;
    if (!routine) {
        fprintf(stderr, "ctrl_break: kernelbase.dll exports no CtrlRoutine (error %lu)\n",
                GetLastError());
        return 1;
    }
    DWORD access = PROCESS_CREATE_THREAD | PROCESS_QUERY_INFORMATION | PROCESS_VM_OPERATION
        | PROCESS_VM_WRITE | PROCESS_VM_READ;
    HANDLE process = OpenProcess(access, FALSE, (DWORD)pid);
    if (!process) {
        fprintf(stderr, "ctrl_break: cannot open process %lu (error %lu)\n", pid, GetLastError());
        return 1;
    }
    HANDLE thread = CreateRemoteThread(process, NULL, 0, (LPTHREAD_START_ROUTINE)(void *)routine,
                                       (LPVOID)(ULONG_PTR)CTRL_BREAK_EVENT, 0, NULL);
    if (!thread) {
        fprintf(stderr, "ctrl_break: cannot start CtrlRoutine in process %lu (error %lu)\n", pid,
                GetLastError());
        return 1;
    }
    DWORD handled = 0;
    WaitForSingleObject(thread, 10000);
    GetExitCodeThread(thread, &handled);
    CloseHandle(thread);
    CloseHandle(process);
    /* CtrlRoutine returns 1 when a registered handler took the event. */
    if (handled != 1) {
        fprintf(stderr, "ctrl_break: no handler of process %lu took Ctrl-Break (%lu)\n", pid,
                handled);
        return 1;
    }
    return 0;
}
