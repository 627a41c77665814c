/**
 * Picks the SFU engine (SFU_ENGINE): mediasoup's C++ workers when they can run, werift (embedded,
 * pure TypeScript) otherwise. mediasoup is an optional dependency whose worker binary comes from a
 * download at install, so 'auto' must survive its absence; an explicit 'mediasoup' must not.
 */
import { ConfigError, type ServerConfig } from '../config.ts';
import { logger } from '../log.ts';
import type { SfuEngine } from './engine.ts';
import { WeriftEngine } from './werift/WeriftEngine.ts';

const log = logger('sfu');

/** What to do about a mediasoup that cannot start, for the operator. */
export const MEDIASOUP_HELP =
  'install the optional dependency with internet access (npm install mediasoup downloads its worker), ' +
  'or set MEDIASOUP_WORKER_BIN to a mediasoup-worker executable built for this system ' +
  '(Debian 12 runtime libraries: apt-get install libuv1 libssl3 libsrtp2-1 libabsl20220623), ' +
  'or run the embedded engine with SFU_ENGINE=werift';

export async function createEngine(config: ServerConfig): Promise<SfuEngine> {
  const engine = await pickEngine(config);
  if (config.rtc.iceTcp) iceTcpNotice(engine.name);
  return engine;
}

/**
 * RTC_ICE_TCP=1 at start, said once in the log: on werift it does nothing; on mediasoup it opens a
 * TCP listener that keeps whatever connects to it (sfu/README.md, "ICE over TCP").
 */
function iceTcpNotice(engine: string): void {
  if (engine === 'mediasoup') {
    log.warn(
      'ICE over TCP is on (RTC_ICE_TCP=1): each mediasoup worker keeps every TCP connection opened to it, authenticated or not, until the other side closes it; cap TCP connections per source address at the firewall (server/src/sfu/README.md, "ICE over TCP")',
    );
  } else {
    log.warn(`RTC_ICE_TCP=1 has no effect on the ${engine} engine: it offers UDP only, so clients whose network blocks UDP need the TURN relay (ICE_SERVERS)`);
  }
}

async function pickEngine(config: ServerConfig): Promise<SfuEngine> {
  const wanted = config.sfuEngine;
  if (wanted === 'werift') {
    log.info('SFU engine: werift (SFU_ENGINE=werift)');
    return new WeriftEngine(config.rtc);
  }
  let engine: SfuEngine;
  try {
    engine = await startMediasoup(config);
  } catch (err) {
    const why = (err as Error).message;
    // Its worker ran: the listen address or ports are misconfigured, which no install fixes and
    // which the embedded engine would not fix either.
    if ((err as Error).name === 'ListenError') throw new ConfigError(`SFU_ENGINE=${wanted}: ${why}.`);
    if (wanted === 'mediasoup') {
      throw new ConfigError(`SFU_ENGINE=mediasoup, but its worker could not start (${why}): ${MEDIASOUP_HELP}.`);
    }
    log.info('SFU engine: werift (SFU_ENGINE=auto; mediasoup could not start)', { why });
    return new WeriftEngine(config.rtc);
  }
  log.info(`SFU engine: mediasoup (SFU_ENGINE=${wanted}; its worker started)`, { workers: config.mediasoup.workers });
  return engine;
}

async function startMediasoup(config: ServerConfig): Promise<SfuEngine> {
  let mediasoup: typeof import('mediasoup');
  try {
    mediasoup = await import('mediasoup');
  } catch (err) {
    throw new Error(`the optional package mediasoup is not installed: ${(err as Error).message}`);
  }
  const { MediasoupEngine } = await import('./mediasoup/MediasoupEngine.ts');
  return MediasoupEngine.start(mediasoup, { workers: config.mediasoup.workers, workerBin: config.mediasoup.workerBin, rtc: config.rtc });
}
