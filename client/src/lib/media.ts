/** Camera and microphone access, with failures sorted into what the user can do about them. */
export type MediaFailure = 'denied' | 'not-found' | 'in-use' | 'insecure' | 'unknown';

export class MediaAccessError extends Error {
  readonly kind: MediaFailure;
  constructor(kind: MediaFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

export async function openCameraAndMic(): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MediaAccessError('insecure', 'This page needs a secure (https) connection to use your camera.');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
    });
  } catch (err) {
    const name = (err as DOMException).name;
    if (name === 'NotAllowedError' || name === 'SecurityError') {
      throw new MediaAccessError('denied', 'Camera and microphone access was denied.');
    }
    if (name === 'NotFoundError' || name === 'OverconstrainedError') {
      throw new MediaAccessError('not-found', 'No camera or microphone was found.');
    }
    if (name === 'NotReadableError' || name === 'AbortError') {
      throw new MediaAccessError('in-use', 'Your camera or microphone is in use by another application.');
    }
    throw new MediaAccessError('unknown', `Could not open camera and microphone: ${(err as Error).message}`);
  }
}
