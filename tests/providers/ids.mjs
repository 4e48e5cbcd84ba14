// What the local providers derive from a login: its e-mail and a stable numeric id.
import crypto from 'node:crypto';

export function emailOf(login, domain) {
  return login.includes('@') ? login.toLowerCase() : `${login.toLowerCase()}@${domain}`;
}

export function numericId(login) {
  // A stable positive integer per login (GitHub and Kakao ids are numbers).
  return Number(BigInt('0x' + crypto.createHash('sha256').update(login).digest('hex').slice(0, 12)));
}
