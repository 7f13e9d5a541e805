/**
 * `Content-Disposition` for a file download: the name kept to safe ASCII in `filename`, and the
 * exact name in RFC 6266's `filename*` when that changed it.
 */
export function attachment(filename: string): string {
  const safe = filename.replace(/[^A-Za-z0-9._-]/g, "_");
  if (safe === filename) return `attachment; filename="${filename}"`;
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${safe}"; filename*=UTF-8''${encoded}`;
}
