/**
 * GS1 GTINs: check-digit validation and normalisation to the 14-digit form used in Digital Links.
 */

/** The GS1 mod-10 check digit of a string of digits (weights 3, 1, 3, … from the right): GTINs, GLNs, SSCCs. */
export function gs1CheckDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) sum += Number(digits[digits.length - 1 - i]) * (i % 2 === 0 ? 3 : 1);
  return String((10 - (sum % 10)) % 10);
}

/** The GTIN-14 form of a GTIN-8/12/13/14, or null if it is malformed or its check digit is wrong. */
export function normaliseGtin(input: string): string | null {
  if (!/^(\d{8}|\d{12}|\d{13}|\d{14})$/.test(input)) return null;
  const gtin = input.padStart(14, "0");
  return gs1CheckDigit(gtin.slice(0, 13)) === gtin[13] ? gtin : null;
}
