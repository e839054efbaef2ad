/*
 * Prompts on stdout, answers from stdin; see prompt.h.
 */
#include "ctl/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "ctl/util.h"

/* One line of stdin without its line end; NULL at end of input. */
static char *read_answer(void)
{
	char *line = NULL;
	size_t size = 0;
	ssize_t n = getline(&line, &size, stdin);

	if (n < 0) {
		free(line);
		/* Keep the terminal tidy: the prompt had no newline. */
		fputc('\n', stdout);
		fflush(stdout);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

bool prompt_text(const char *question, const char *default_value, char **answer)
{
	*answer = NULL;
	for (;;) {
		char *line;

		if (default_value != NULL)
			printf("%s [%s]: ", question, default_value);
		else
			printf("%s: ", question);
		fflush(stdout);
		line = read_answer();
		if (line == NULL)
			return false;
		if (line[0] != '\0') {
			*answer = line;
			return true;
		}
		free(line);
		if (default_value != NULL) {
			*answer = xstrdup(default_value);
			return true;
		}
	}
}

bool prompt_confirm(const char *question, bool *yes)
{
	*yes = false;
	for (;;) {
		char *line;

		printf("%s [y/N]: ", question);
		fflush(stdout);
		line = read_answer();
		if (line == NULL)
			return false;
		if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0) {
			*yes = true;
			free(line);
			return true;
		}
		if (line[0] == '\0' || strcasecmp(line, "n") == 0 || strcasecmp(line, "no") == 0) {
			free(line);
			return true;
		}
		free(line);
		printf("Error: invalid input\n");
	}
}
