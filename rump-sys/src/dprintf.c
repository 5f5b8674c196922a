/*
 * rumpuser_dprintf is the one variadic hypercall. Stable Rust cannot define a C variadic
 * function, so this front end formats the arguments and hands the text to the Rust console.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

void rumpsys_console_write(const char *text, size_t length);

void
rumpuser_dprintf(const char *format, ...)
{
	char text[1024];
	va_list arguments;
	int length;

	va_start(arguments, format);
	length = vsnprintf(text, sizeof(text), format, arguments);
	va_end(arguments);
	if (length < 0)
		return;
	if ((size_t)length >= sizeof(text))
		length = sizeof(text) - 1;
	rumpsys_console_write(text, (size_t)length);
}
