// Shapes shared by several routes' schemas.
import { z } from 'zod';

export const idParams = z.object({ id: z.string().uuid('not a valid id') });

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).optional(),
};
