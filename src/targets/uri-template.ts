/**
 * A matcher for URIs an RFC 6570 template can produce, enough to route a resource URI to the
 * backend whose template it fits: `{var}` matches one path segment, `{+var}` and `{#var}`
 * anything, `{?a,b}` / `{&a}` a query part, `{/var}` and `{.var}` their prefixed segment.
 */
export function templateMatcher(template: string): (uri: string) => boolean {
  let pattern = '';
  let last = 0;
  for (const match of template.matchAll(/\{([+#./;?&]?)([^}]*)\}/g)) {
    pattern += escape(template.slice(last, match.index));
    const operator = match[1];
    if (operator === '+' || operator === '#') pattern += '.*';
    else if (operator === '?' || operator === '&') pattern += '(?:[?&].*)?';
    else if (operator === '/' || operator === '.' || operator === ';')
      pattern += `(?:\\${operator}[^/?#]*)*`;
    else pattern += '[^/?#]+';
    last = match.index + match[0].length;
  }
  pattern += escape(template.slice(last));
  const regex = new RegExp(`^${pattern}$`);
  return (uri) => regex.test(uri);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
