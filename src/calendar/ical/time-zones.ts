// Time zone names as calendars really write them, turned into IANA zones Node's ICU knows: IANA names (with the
// odd prefix or quoting), Windows zone ids ("E. South America Standard Time", from CLDR's windowsZones, territory
// 001), and Outlook's display names ("(UTC-05:00) Eastern Time (US & Canada)"), whose UTC offset is the last
// resort. Also the wall-clock → instant conversion for an IANA zone. Pure functions, no I/O.

/** CLDR windowsZones.xml, the "001" (default territory) mapping of each Windows zone id. */
const WINDOWS_ZONES: Readonly<Record<string, string>> = {
  'Dateline Standard Time': 'Etc/GMT+12',
  'UTC-11': 'Etc/GMT+11',
  'Aleutian Standard Time': 'America/Adak',
  'Hawaiian Standard Time': 'Pacific/Honolulu',
  'Marquesas Standard Time': 'Pacific/Marquesas',
  'Alaskan Standard Time': 'America/Anchorage',
  'UTC-09': 'Etc/GMT+9',
  'Pacific Standard Time (Mexico)': 'America/Tijuana',
  'UTC-08': 'Etc/GMT+8',
  'Pacific Standard Time': 'America/Los_Angeles',
  'US Mountain Standard Time': 'America/Phoenix',
  'Mountain Standard Time (Mexico)': 'America/Mazatlan',
  'Mountain Standard Time': 'America/Denver',
  'Yukon Standard Time': 'America/Whitehorse',
  'Central America Standard Time': 'America/Guatemala',
  'Central Standard Time': 'America/Chicago',
  'Easter Island Standard Time': 'Pacific/Easter',
  'Central Standard Time (Mexico)': 'America/Mexico_City',
  'Mexico Standard Time': 'America/Mexico_City',
  'Mexico Standard Time 2': 'America/Chihuahua',
  'Canada Central Standard Time': 'America/Regina',
  'SA Pacific Standard Time': 'America/Bogota',
  'Eastern Standard Time (Mexico)': 'America/Cancun',
  'Eastern Standard Time': 'America/New_York',
  'Haiti Standard Time': 'America/Port-au-Prince',
  'Cuba Standard Time': 'America/Havana',
  'US Eastern Standard Time': 'America/Indiana/Indianapolis',
  'Turks And Caicos Standard Time': 'America/Grand_Turk',
  'Paraguay Standard Time': 'America/Asuncion',
  'Atlantic Standard Time': 'America/Halifax',
  'Venezuela Standard Time': 'America/Caracas',
  'Central Brazilian Standard Time': 'America/Cuiaba',
  'SA Western Standard Time': 'America/La_Paz',
  'Pacific SA Standard Time': 'America/Santiago',
  'Newfoundland Standard Time': 'America/St_Johns',
  'Tocantins Standard Time': 'America/Araguaina',
  'E. South America Standard Time': 'America/Sao_Paulo',
  'SA Eastern Standard Time': 'America/Cayenne',
  'Argentina Standard Time': 'America/Argentina/Buenos_Aires',
  'Greenland Standard Time': 'America/Nuuk',
  'Montevideo Standard Time': 'America/Montevideo',
  'Magallanes Standard Time': 'America/Punta_Arenas',
  'Saint Pierre Standard Time': 'America/Miquelon',
  'Bahia Standard Time': 'America/Bahia',
  'UTC-02': 'Etc/GMT+2',
  'Mid-Atlantic Standard Time': 'Etc/GMT+2',
  'Azores Standard Time': 'Atlantic/Azores',
  'Cape Verde Standard Time': 'Atlantic/Cape_Verde',
  UTC: 'Etc/UTC',
  'Coordinated Universal Time': 'Etc/UTC',
  'GMT Standard Time': 'Europe/London',
  'Greenwich Standard Time': 'Atlantic/Reykjavik',
  'Sao Tome Standard Time': 'Africa/Sao_Tome',
  'Morocco Standard Time': 'Africa/Casablanca',
  'W. Europe Standard Time': 'Europe/Berlin',
  'Central Europe Standard Time': 'Europe/Budapest',
  'Romance Standard Time': 'Europe/Paris',
  'Central European Standard Time': 'Europe/Warsaw',
  'W. Central Africa Standard Time': 'Africa/Lagos',
  'Jordan Standard Time': 'Asia/Amman',
  'GTB Standard Time': 'Europe/Bucharest',
  'Middle East Standard Time': 'Asia/Beirut',
  'Egypt Standard Time': 'Africa/Cairo',
  'E. Europe Standard Time': 'Europe/Chisinau',
  'Syria Standard Time': 'Asia/Damascus',
  'West Bank Standard Time': 'Asia/Hebron',
  'South Africa Standard Time': 'Africa/Johannesburg',
  'FLE Standard Time': 'Europe/Kiev',
  'Israel Standard Time': 'Asia/Jerusalem',
  'Jerusalem Standard Time': 'Asia/Jerusalem',
  'South Sudan Standard Time': 'Africa/Juba',
  'Kaliningrad Standard Time': 'Europe/Kaliningrad',
  'Sudan Standard Time': 'Africa/Khartoum',
  'Libya Standard Time': 'Africa/Tripoli',
  'Namibia Standard Time': 'Africa/Windhoek',
  'Arabic Standard Time': 'Asia/Baghdad',
  'Turkey Standard Time': 'Europe/Istanbul',
  'Arab Standard Time': 'Asia/Riyadh',
  'Belarus Standard Time': 'Europe/Minsk',
  'Russian Standard Time': 'Europe/Moscow',
  'E. Africa Standard Time': 'Africa/Nairobi',
  'Volgograd Standard Time': 'Europe/Volgograd',
  'Iran Standard Time': 'Asia/Tehran',
  'Arabian Standard Time': 'Asia/Dubai',
  'Astrakhan Standard Time': 'Europe/Astrakhan',
  'Azerbaijan Standard Time': 'Asia/Baku',
  'Russia Time Zone 3': 'Europe/Samara',
  'Mauritius Standard Time': 'Indian/Mauritius',
  'Saratov Standard Time': 'Europe/Saratov',
  'Georgian Standard Time': 'Asia/Tbilisi',
  'Caucasus Standard Time': 'Asia/Yerevan',
  'Armenian Standard Time': 'Asia/Yerevan',
  'Afghanistan Standard Time': 'Asia/Kabul',
  'West Asia Standard Time': 'Asia/Tashkent',
  'Ekaterinburg Standard Time': 'Asia/Yekaterinburg',
  'Pakistan Standard Time': 'Asia/Karachi',
  'Qyzylorda Standard Time': 'Asia/Qyzylorda',
  'India Standard Time': 'Asia/Kolkata',
  'Sri Lanka Standard Time': 'Asia/Colombo',
  'Nepal Standard Time': 'Asia/Kathmandu',
  'Central Asia Standard Time': 'Asia/Almaty',
  'Bangladesh Standard Time': 'Asia/Dhaka',
  'Omsk Standard Time': 'Asia/Omsk',
  'Myanmar Standard Time': 'Asia/Yangon',
  'SE Asia Standard Time': 'Asia/Bangkok',
  'Altai Standard Time': 'Asia/Barnaul',
  'W. Mongolia Standard Time': 'Asia/Hovd',
  'North Asia Standard Time': 'Asia/Krasnoyarsk',
  'N. Central Asia Standard Time': 'Asia/Novosibirsk',
  'Tomsk Standard Time': 'Asia/Tomsk',
  'China Standard Time': 'Asia/Shanghai',
  'North Asia East Standard Time': 'Asia/Irkutsk',
  'Singapore Standard Time': 'Asia/Singapore',
  'W. Australia Standard Time': 'Australia/Perth',
  'Taipei Standard Time': 'Asia/Taipei',
  'Ulaanbaatar Standard Time': 'Asia/Ulaanbaatar',
  'Aus Central W. Standard Time': 'Australia/Eucla',
  'Transbaikal Standard Time': 'Asia/Chita',
  'Tokyo Standard Time': 'Asia/Tokyo',
  'North Korea Standard Time': 'Asia/Pyongyang',
  'Korea Standard Time': 'Asia/Seoul',
  'Yakutsk Standard Time': 'Asia/Yakutsk',
  'Cen. Australia Standard Time': 'Australia/Adelaide',
  'AUS Central Standard Time': 'Australia/Darwin',
  'E. Australia Standard Time': 'Australia/Brisbane',
  'AUS Eastern Standard Time': 'Australia/Sydney',
  'West Pacific Standard Time': 'Pacific/Port_Moresby',
  'Tasmania Standard Time': 'Australia/Hobart',
  'Vladivostok Standard Time': 'Asia/Vladivostok',
  'Lord Howe Standard Time': 'Australia/Lord_Howe',
  'Bougainville Standard Time': 'Pacific/Bougainville',
  'Russia Time Zone 10': 'Asia/Srednekolymsk',
  'Magadan Standard Time': 'Asia/Magadan',
  'Norfolk Standard Time': 'Pacific/Norfolk',
  'Sakhalin Standard Time': 'Asia/Sakhalin',
  'Central Pacific Standard Time': 'Pacific/Guadalcanal',
  'Russia Time Zone 11': 'Asia/Kamchatka',
  'Kamchatka Standard Time': 'Asia/Kamchatka',
  'New Zealand Standard Time': 'Pacific/Auckland',
  'UTC+12': 'Etc/GMT-12',
  'Fiji Standard Time': 'Pacific/Fiji',
  'Chatham Islands Standard Time': 'Pacific/Chatham',
  'UTC+13': 'Etc/GMT-13',
  'Tonga Standard Time': 'Pacific/Tongatapu',
  'Samoa Standard Time': 'Pacific/Apia',
  'Line Islands Standard Time': 'Pacific/Kiritimati',
};

const WINDOWS_BY_LOWER = new Map(Object.entries(WINDOWS_ZONES).map(([name, zone]) => [name.toLowerCase(), zone]));

/**
 * Outlook's display names, by a distinctive part of the text after "(UTC±hh:mm)", in the order they are tried:
 * longer, more specific phrases first. Accents are removed and case ignored before matching.
 */
const DISPLAY_HINTS: ReadonlyArray<readonly [string, string]> = [
  ['eastern time (us & canada)', 'America/New_York'],
  ['central time (us & canada)', 'America/Chicago'],
  ['mountain time (us & canada)', 'America/Denver'],
  ['pacific time (us & canada)', 'America/Los_Angeles'],
  ['atlantic time (canada)', 'America/Halifax'],
  ['baja california', 'America/Tijuana'],
  ['alaska', 'America/Anchorage'],
  ['hawaii', 'Pacific/Honolulu'],
  ['arizona', 'America/Phoenix'],
  ['saskatchewan', 'America/Regina'],
  ['indiana (east)', 'America/Indiana/Indianapolis'],
  ['guadalajara, mexico city, monterrey', 'America/Mexico_City'],
  ['bogota, lima, quito', 'America/Bogota'],
  ['caracas', 'America/Caracas'],
  ['santiago', 'America/Santiago'],
  ['newfoundland', 'America/St_Johns'],
  ['brasilia', 'America/Sao_Paulo'],
  ['buenos aires', 'America/Argentina/Buenos_Aires'],
  ['montevideo', 'America/Montevideo'],
  ['greenland', 'America/Nuuk'],
  ['azores', 'Atlantic/Azores'],
  ['cabo verde', 'Atlantic/Cape_Verde'],
  ['cape verde', 'Atlantic/Cape_Verde'],
  ['dublin, edinburgh, lisbon, london', 'Europe/London'],
  ['monrovia, reykjavik', 'Atlantic/Reykjavik'],
  ['casablanca', 'Africa/Casablanca'],
  ['amsterdam, berlin', 'Europe/Berlin'],
  ['belgrade, bratislava, budapest', 'Europe/Budapest'],
  ['brussels, copenhagen, madrid, paris', 'Europe/Paris'],
  ['sarajevo, skopje, warsaw, zagreb', 'Europe/Warsaw'],
  ['west central africa', 'Africa/Lagos'],
  ['athens, bucharest', 'Europe/Bucharest'],
  ['athens, istanbul', 'Europe/Istanbul'],
  ['istanbul', 'Europe/Istanbul'],
  ['beirut', 'Asia/Beirut'],
  ['cairo', 'Africa/Cairo'],
  ['harare, pretoria', 'Africa/Johannesburg'],
  ['helsinki, kyiv', 'Europe/Kiev'],
  ['helsinki, kiev', 'Europe/Kiev'],
  ['jerusalem', 'Asia/Jerusalem'],
  ['amman', 'Asia/Amman'],
  ['baghdad', 'Asia/Baghdad'],
  ['kuwait, riyadh', 'Asia/Riyadh'],
  ['minsk', 'Europe/Minsk'],
  ['moscow, st. petersburg', 'Europe/Moscow'],
  ['nairobi', 'Africa/Nairobi'],
  ['tehran', 'Asia/Tehran'],
  ['abu dhabi, muscat', 'Asia/Dubai'],
  ['baku', 'Asia/Baku'],
  ['tbilisi', 'Asia/Tbilisi'],
  ['yerevan', 'Asia/Yerevan'],
  ['kabul', 'Asia/Kabul'],
  ['ekaterinburg', 'Asia/Yekaterinburg'],
  ['islamabad, karachi', 'Asia/Karachi'],
  ['tashkent', 'Asia/Tashkent'],
  ['chennai, kolkata, mumbai, new delhi', 'Asia/Kolkata'],
  ['sri jayawardenepura', 'Asia/Colombo'],
  ['kathmandu', 'Asia/Kathmandu'],
  ['astana', 'Asia/Almaty'],
  ['dhaka', 'Asia/Dhaka'],
  ['yangon', 'Asia/Yangon'],
  ['bangkok, hanoi, jakarta', 'Asia/Bangkok'],
  ['novosibirsk', 'Asia/Novosibirsk'],
  ['krasnoyarsk', 'Asia/Krasnoyarsk'],
  ['beijing, chongqing, hong kong', 'Asia/Shanghai'],
  ['irkutsk', 'Asia/Irkutsk'],
  ['kuala lumpur, singapore', 'Asia/Singapore'],
  ['perth', 'Australia/Perth'],
  ['taipei', 'Asia/Taipei'],
  ['ulaanbaatar', 'Asia/Ulaanbaatar'],
  ['osaka, sapporo, tokyo', 'Asia/Tokyo'],
  ['seoul', 'Asia/Seoul'],
  ['yakutsk', 'Asia/Yakutsk'],
  ['adelaide', 'Australia/Adelaide'],
  ['darwin', 'Australia/Darwin'],
  ['brisbane', 'Australia/Brisbane'],
  ['canberra, melbourne, sydney', 'Australia/Sydney'],
  ['guam, port moresby', 'Pacific/Port_Moresby'],
  ['hobart', 'Australia/Hobart'],
  ['vladivostok', 'Asia/Vladivostok'],
  ['magadan', 'Asia/Magadan'],
  ['solomon is', 'Pacific/Guadalcanal'],
  ['auckland, wellington', 'Pacific/Auckland'],
  ['fiji', 'Pacific/Fiji'],
  ["nuku'alofa", 'Pacific/Tongatapu'],
  ['samoa', 'Pacific/Apia'],
  ['coordinated universal time', 'Etc/UTC'],
];

export type ZoneName = { kind: 'iana'; name: string } | { kind: 'fixed'; offsetMinutes: number };

const validIana = new Map<string, string | null>();

/** The zone name Node's ICU accepts for `name` (an IANA id, case-insensitively), or null. */
export function ianaZone(name: string): string | null {
  const key = name.trim();
  if (!key) return null;
  const cached = validIana.get(key);
  if (cached !== undefined) return cached;
  let result: string | null = null;
  // Only names that look like zone ids: "1" or "Customized Time Zone" are not worth asking ICU about.
  if (/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(key) && (key.includes('/') || /^(utc|gmt|etc\/)/i.test(key))) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: key });
      result = key;
    } catch {
      result = null;
    }
  }
  validIana.set(key, result);
  return result;
}

function fold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

const OFFSET_PREFIX = /^\(?\s*(?:utc|gmt)\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?\s*\)?\s*/i;

/**
 * A TZID as calendars write it, as a zone: an IANA id (also behind a "/mozilla.org/…/" style prefix), a Windows
 * zone id, an Outlook display name (matched by its cities, else its "(UTC±hh:mm)" offset, fixed). null when
 * nothing is recognisable: the caller then uses the file's own VTIMEZONE, if any.
 */
export function zoneFromName(tzid: string): ZoneName | null {
  const raw = tzid
    .trim()
    .replace(/^"+|"+$/g, '')
    .trim();
  if (!raw) return null;
  const direct = ianaZone(raw);
  if (direct) return { kind: 'iana', name: direct };
  // "/mozilla.org/20050126_1/Europe/Berlin", "/softwarestudio.org/Olson_20011030_5/America/New_York".
  const tail = /([A-Za-z]+\/[A-Za-z_+-]+(?:\/[A-Za-z_+-]+)?)$/.exec(raw)?.[1];
  if (tail && raw.startsWith('/')) {
    const zone = ianaZone(tail);
    if (zone) return { kind: 'iana', name: zone };
  }
  const windows = WINDOWS_BY_LOWER.get(raw.toLowerCase());
  if (windows) return { kind: 'iana', name: windows };
  const folded = fold(raw);
  const prefix = OFFSET_PREFIX.exec(folded);
  const rest = prefix ? folded.slice(prefix[0].length) : folded;
  for (const [hint, zone] of DISPLAY_HINTS) {
    if (rest.includes(hint)) return { kind: 'iana', name: zone };
  }
  if (prefix) {
    const sign = prefix[1] === '-' ? -1 : 1;
    const minutes = Number(prefix[2] ?? 0) * 60 + Number(prefix[3] ?? 0);
    if (minutes <= 14 * 60) return { kind: 'fixed', offsetMinutes: sign * minutes };
  }
  return null;
}

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's offset from UTC at `instant`, in milliseconds. */
export function zoneOffsetMs(zone: string, instant: number): number {
  const parts: Record<string, string> = {};
  for (const part of formatter(zone).formatToParts(new Date(instant))) parts[part.type] = part.value;
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const asUtc = Date.UTC(
    year,
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour) % 24,
    Number(parts.minute),
    Number(parts.second),
  );
  const whole = instant - (instant % 1000);
  return asUtc - whole;
}

function wallAsUtc(wall: WallTime): number {
  const d = new Date(0);
  d.setUTCFullYear(wall.year, wall.month - 1, wall.day);
  d.setUTCHours(wall.hour, wall.minute, wall.second, 0);
  return d.getTime();
}

/**
 * The instant of a wall-clock time in an IANA zone. A time that does not exist (the hour skipped when clocks
 * go forward) lands after the gap; one that happens twice (clocks go back) is the first of the two.
 */
export function instantInZone(wall: WallTime, zone: string): number {
  const guess = wallAsUtc(wall);
  const first = zoneOffsetMs(zone, guess);
  let instant = guess - first;
  const second = zoneOffsetMs(zone, instant);
  if (second !== first) {
    const retry = guess - second;
    // Still inconsistent: the wall time falls in a gap; take the later offset's reading.
    instant = zoneOffsetMs(zone, retry) === second ? retry : guess - Math.max(first, second);
  } else {
    // Ambiguous (fall back): prefer the earlier instant when an hour earlier reads the same wall time.
    const earlier = instant - 3_600_000;
    if (zoneOffsetMs(zone, earlier) !== first && guess - zoneOffsetMs(zone, earlier) === earlier) instant = earlier;
  }
  return instant;
}

export function instantAtOffset(wall: WallTime, offsetMinutes: number): number {
  return wallAsUtc(wall) - offsetMinutes * 60_000;
}

export function utcWall(wall: WallTime): number {
  return wallAsUtc(wall);
}

/** The wall-clock reading of an instant in an IANA zone. */
export function wallInZone(instant: number, zone: string): WallTime {
  const local = new Date(instant + zoneOffsetMs(zone, instant));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
  };
}
