/**
 * GS1 GTINs: check-digit validation and normalisation to the 14-digit form used in Digital Links.
 */

/** The GTIN-14 form of a GTIN-8/12/13/14, or null if it is malformed or its check digit is wrong. */
export function normaliseGtin(input: string): string | null {
  if (!/^(\d{8}|\d{12}|\d{13}|\d{14})$/.test(input)) return null;
  const gtin = input.padStart(14, "0");
  let sum = 0;
  for (let i = 0; i < 13; i++) sum += Number(gtin[i]) * (i % 2 === 0 ? 3 : 1);
  return (10 - (sum % 10)) % 10 === Number(gtin[13]) ? gtin : null;
}
