/* sanitizer_options.c: linked into bundled extensions only in sanitizer builds.
 * LeakSanitizer stops the world with ptrace, which the extension sandbox forbids
 * (seccomp), so it would fail at every exit; leaks are checked in the unit tests. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "detect_leaks=0"; }
