/*
 * rumpuser_dprintf is the one variadic hypercall. Stable Rust cannot define a C variadic
 * function, so this front end formats the arguments and hands the text to the Rust side,
 * which writes it where diagnostics go (standard error when hosted, as upstream does).
 *
 * Hosted builds format with the C library's vsnprintf. Freestanding builds (a bare-metal
 * kernel, RUMPSYS_FREESTANDING: no C library, no SSE) format with rumpsys_vformat below,
 * which knows the conversions kernel code prints with: d i u o x X p s c %, the flags
 * - 0 + space #, width and precision (also as *), and the length modifiers hh h l ll q j z t.
 * Floating-point conversions cannot be consumed without SSE registers; they are copied to
 * the output as written. rumpsys_format lets the host's unit tests check rumpsys_vformat.
 */
#include <stdarg.h>
#include <stddef.h>
#ifndef RUMPSYS_FREESTANDING
#include <stdio.h>
#endif

void rumpsys_diagnostic_write(const char *text, size_t length);
int rumpsys_vformat(char *buffer, size_t size, const char *format, va_list arguments);
int rumpsys_format(char *buffer, size_t size, const char *format, ...);
void rumpuser_dprintf(const char *format, ...);

void
rumpuser_dprintf(const char *format, ...)
{
	char text[1024];
	va_list arguments;
	int length;

	va_start(arguments, format);
#ifdef RUMPSYS_FREESTANDING
	length = rumpsys_vformat(text, sizeof(text), format, arguments);
#else
	length = vsnprintf(text, sizeof(text), format, arguments);
#endif
	va_end(arguments);
	if (length < 0)
		return;
	if ((size_t)length >= sizeof(text))
		length = sizeof(text) - 1;
	rumpsys_diagnostic_write(text, (size_t)length);
}

/* Output that counts every byte and stores those that fit (with room for the NUL). */
struct sink {
	char *buffer;
	size_t size;
	size_t length;
};

static void
put(struct sink *sink, char character)
{
	if (sink->length + 1 < sink->size)
		sink->buffer[sink->length] = character;
	sink->length++;
}

static void
repeat(struct sink *sink, char character, int count)
{
	for (; count > 0; count--)
		put(sink, character);
}

#define FLAG_LEFT	0x01
#define FLAG_ZERO	0x02
#define FLAG_PLUS	0x04
#define FLAG_SPACE	0x08
#define FLAG_ALTERNATE	0x10
#define FLAG_POINTER	0x20

struct conversion {
	int flags;
	int width;
	int precision;	/* -1: none given */
};

static void
put_number(struct sink *sink, unsigned long long value, int negative, unsigned int base,
    int upper, const struct conversion *conversion)
{
	const char *digit_set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char digits[24];
	char prefix[2];
	int count = 0, prefix_length = 0, zeros, padding;

	while (value != 0) {
		digits[count++] = digit_set[value % base];
		value /= base;
	}
	zeros = conversion->precision < 0 ? 1 - count : conversion->precision - count;
	if (zeros < 0)
		zeros = 0;

	if (negative)
		prefix[prefix_length++] = '-';
	else if (conversion->flags & FLAG_PLUS)
		prefix[prefix_length++] = '+';
	else if (conversion->flags & FLAG_SPACE)
		prefix[prefix_length++] = ' ';
	if (conversion->flags & FLAG_POINTER) {
		prefix[prefix_length++] = '0';
		prefix[prefix_length++] = 'x';
	} else if ((conversion->flags & FLAG_ALTERNATE) && base == 16 && count > 0) {
		prefix[prefix_length++] = '0';
		prefix[prefix_length++] = upper ? 'X' : 'x';
	} else if ((conversion->flags & FLAG_ALTERNATE) && base == 8 && zeros == 0 &&
	    (count == 0 || digits[count - 1] != '0')) {
		zeros = 1;
	}

	padding = conversion->width - (prefix_length + zeros + count);
	if (padding < 0)
		padding = 0;
	if ((conversion->flags & (FLAG_ZERO | FLAG_LEFT)) == FLAG_ZERO &&
	    conversion->precision < 0) {
		zeros += padding;
		padding = 0;
	}
	if (!(conversion->flags & FLAG_LEFT))
		repeat(sink, ' ', padding);
	for (int index = 0; index < prefix_length; index++)
		put(sink, prefix[index]);
	repeat(sink, '0', zeros);
	while (count > 0)
		put(sink, digits[--count]);
	if (conversion->flags & FLAG_LEFT)
		repeat(sink, ' ', padding);
}

static void
put_text(struct sink *sink, const char *text, const struct conversion *conversion)
{
	int length = 0, padding;

	if (text == NULL)
		text = "(null)";
	while (text[length] != '\0' &&
	    (conversion->precision < 0 || length < conversion->precision))
		length++;
	padding = conversion->width > length ? conversion->width - length : 0;
	if (!(conversion->flags & FLAG_LEFT))
		repeat(sink, ' ', padding);
	for (int index = 0; index < length; index++)
		put(sink, text[index]);
	if (conversion->flags & FLAG_LEFT)
		repeat(sink, ' ', padding);
}

enum length_modifier { LENGTH_INT, LENGTH_CHAR, LENGTH_SHORT, LENGTH_LONG, LENGTH_LONG_LONG,
	LENGTH_SIZE };

static long long
signed_argument(va_list *arguments, enum length_modifier length)
{
	switch (length) {
	case LENGTH_CHAR:
		return (signed char)va_arg(*arguments, int);
	case LENGTH_SHORT:
		return (short)va_arg(*arguments, int);
	case LENGTH_LONG:
		return va_arg(*arguments, long);
	case LENGTH_LONG_LONG:
		return va_arg(*arguments, long long);
	case LENGTH_SIZE:
		return (long long)va_arg(*arguments, size_t);
	default:
		return va_arg(*arguments, int);
	}
}

static unsigned long long
unsigned_argument(va_list *arguments, enum length_modifier length)
{
	switch (length) {
	case LENGTH_CHAR:
		return (unsigned char)va_arg(*arguments, unsigned int);
	case LENGTH_SHORT:
		return (unsigned short)va_arg(*arguments, unsigned int);
	case LENGTH_LONG:
		return va_arg(*arguments, unsigned long);
	case LENGTH_LONG_LONG:
		return va_arg(*arguments, unsigned long long);
	case LENGTH_SIZE:
		return va_arg(*arguments, size_t);
	default:
		return va_arg(*arguments, unsigned int);
	}
}

/* Like vsnprintf: returns the full length, stores at most size - 1 bytes and a NUL. */
int
rumpsys_vformat(char *buffer, size_t size, const char *format, va_list arguments)
{
	struct sink sink = { buffer, size, 0 };
	va_list remaining;

	va_copy(remaining, arguments);
	while (*format != '\0') {
		const char *start = format;
		struct conversion conversion = { 0, 0, -1 };
		enum length_modifier length = LENGTH_INT;
		long long signed_value;

		if (*format != '%') {
			put(&sink, *format++);
			continue;
		}
		format++;
		for (;; format++) {
			if (*format == '-')
				conversion.flags |= FLAG_LEFT;
			else if (*format == '0')
				conversion.flags |= FLAG_ZERO;
			else if (*format == '+')
				conversion.flags |= FLAG_PLUS;
			else if (*format == ' ')
				conversion.flags |= FLAG_SPACE;
			else if (*format == '#')
				conversion.flags |= FLAG_ALTERNATE;
			else
				break;
		}
		if (*format == '*') {
			conversion.width = va_arg(remaining, int);
			if (conversion.width < 0) {
				conversion.flags |= FLAG_LEFT;
				conversion.width = -conversion.width;
			}
			format++;
		} else {
			while (*format >= '0' && *format <= '9')
				conversion.width = conversion.width * 10 + (*format++ - '0');
		}
		if (*format == '.') {
			format++;
			conversion.precision = 0;
			if (*format == '*') {
				conversion.precision = va_arg(remaining, int);
				if (conversion.precision < 0)
					conversion.precision = -1;
				format++;
			} else {
				while (*format >= '0' && *format <= '9')
					conversion.precision =
					    conversion.precision * 10 + (*format++ - '0');
			}
		}
		switch (*format) {
		case 'h':
			format++;
			length = LENGTH_SHORT;
			if (*format == 'h') {
				format++;
				length = LENGTH_CHAR;
			}
			break;
		case 'l':
			format++;
			length = LENGTH_LONG;
			if (*format == 'l') {
				format++;
				length = LENGTH_LONG_LONG;
			}
			break;
		case 'q':
		case 'j':
			format++;
			length = LENGTH_LONG_LONG;
			break;
		case 'z':
		case 't':
			format++;
			length = LENGTH_SIZE;
			break;
		default:
			break;
		}

		switch (*format) {
		case 'd':
		case 'i':
			signed_value = signed_argument(&remaining, length);
			put_number(&sink,
			    signed_value < 0 ? 0ULL - (unsigned long long)signed_value
					     : (unsigned long long)signed_value,
			    signed_value < 0, 10, 0, &conversion);
			break;
		case 'u':
			put_number(&sink, unsigned_argument(&remaining, length), 0, 10, 0,
			    &conversion);
			break;
		case 'o':
			put_number(&sink, unsigned_argument(&remaining, length), 0, 8, 0,
			    &conversion);
			break;
		case 'x':
		case 'X':
			put_number(&sink, unsigned_argument(&remaining, length), 0, 16,
			    *format == 'X', &conversion);
			break;
		case 'p':
			conversion.flags |= FLAG_POINTER;
			put_number(&sink, (unsigned long long)(size_t)va_arg(remaining, void *), 0,
			    16, 0, &conversion);
			break;
		case 's':
			put_text(&sink, va_arg(remaining, const char *), &conversion);
			break;
		case 'c': {
			char character[2] = { (char)va_arg(remaining, int), '\0' };
			struct conversion single = conversion;

			single.precision = 1;
			if (character[0] == '\0') {
				/* put_text would stop at the NUL */
				int padding = single.width > 1 ? single.width - 1 : 0;

				if (!(single.flags & FLAG_LEFT))
					repeat(&sink, ' ', padding);
				put(&sink, '\0');
				if (single.flags & FLAG_LEFT)
					repeat(&sink, ' ', padding);
			} else {
				put_text(&sink, character, &single);
			}
			break;
		}
		case '%':
			put(&sink, '%');
			break;
		default:
			/* Unknown or floating point: copy the conversion as written. */
			while (start < format)
				put(&sink, *start++);
			if (*format == '\0')
				continue;
			put(&sink, *format);
			break;
		}
		format++;
	}
	va_end(remaining);
	if (size > 0)
		sink.buffer[sink.length < size ? sink.length : size - 1] = '\0';
	return sink.length > 0x7fffffff ? 0x7fffffff : (int)sink.length;
}

int
rumpsys_format(char *buffer, size_t size, const char *format, ...)
{
	va_list arguments;
	int length;

	va_start(arguments, format);
	length = rumpsys_vformat(buffer, size, format, arguments);
	va_end(arguments);
	return length;
}
