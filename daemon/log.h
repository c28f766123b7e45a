/* SPDX-License-Identifier: MIT */
/*
 * log.h -- logging for the daemon and the tools (never the library).
 */
#ifndef SHMC_LOG_H
#define SHMC_LOG_H

#define LOG_LVL_ERR 3
#define LOG_LVL_WARNING 4
#define LOG_LVL_NOTICE 5
#define LOG_LVL_INFO 6
#define LOG_LVL_DEBUG 7

void log_init(const char *ident, int level);
void log_set_level(int level);
int log_get_level(void);
int log_level_from_name(const char *name);
int log_open_file(const char *path, char *err, size_t errlen);
void log_reopen(void);
int log_has_file(void);
void log_use_syslog(void);
void log_set_tee(int on);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* SHMC_LOG_H */
